"""The project as a whole: docs, packaging, release, tasks, benchmarks, layering, the guard."""
