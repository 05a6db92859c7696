"""The fsspec front end, and fsspec filesystems as layers."""
