"""Helpers shared by the test modules: layers, trees, mounts, kernel overlays, the lower guard."""
