"""Path resolution (namei): the resolver, merged tables, caches, inode numbers, link types."""
