"""Records and pure helpers: entry types, option checks, packed infos, listing columns; no I/O."""
