"""Whiteout stores: the WhiteoutStore protocol and its formats, one class per module."""
