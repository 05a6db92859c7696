"""Strategies of a different design than the shipped ones, written against the protocols alone.

They exist to show that the overlay's seams are real: the conformance and
model tests run the overlay with each of them in place of the default.
"""
