"""The host: the only code that touches OS paths, syscalls, ctypes, MemoryFS and TarFS internals."""
