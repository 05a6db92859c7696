"""Changesets: changes, diff, commit and discard."""
