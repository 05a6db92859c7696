"""The superblock, strategy protocols, copy-up, readdir and the dir/file/info/link/xattr ops."""
