"""Layers: persistence, descriptions, URLs, strategy names, lifecycle, lazy lowers, OCI."""
