"""universal_pathlib's own test cases for ``UPath`` implementations (see README.txt)."""
