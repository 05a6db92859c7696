"""The core semantics through the Python API: copy-up, whiteouts, identity, links, crashes."""
