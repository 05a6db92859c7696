"""Attacks on the sandbox, written as the attacker would make them.

Each test builds an overlay, lets an attacker act (code inside the sandbox,
a crafted upper, a crafted URL or description), then asserts that a victim
directory outside every layer is byte-for-byte unchanged
(:class:`tests.support.victim.Victim`).
"""
