"""Benchmarks of unionfs_lib against direct layer access and ``fs.multifs.MultiFS``.

Run ``python -m benchmarks.run`` (full size) or ``python -m benchmarks.run --tiny``.
"""
