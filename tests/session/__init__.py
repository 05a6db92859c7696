"""Overlay sessions across many workers: forks, merge, journaled commit, clusters."""
