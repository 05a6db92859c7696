"""Changesets: what changed in the upper, as a list, a diff or an OCI layer; commit, discard."""
