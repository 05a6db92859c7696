"""The FUSE mount."""
