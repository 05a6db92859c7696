"""Layers: nesting, URLs, fingerprints, strategy names, descriptions, lazy lowers, lifecycle."""
