"""The whiteout stores' formats, the kernel format checked against a kernel overlay."""
