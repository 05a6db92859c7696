"""Checks of the options of strategies and records, made when they are built.

A strategy's options come from code or, through a description or an
``overlay://`` URL, from data nobody checked (see :mod:`unionfs_lib.layers.strategy_registry`).
A bad one must fail at once, naming the option, not at the first write (or,
worse, not at all: a chunk size of 0 copies up empty files). These are attrs
validators (``attrs.field(validator=...)``); each raises
:class:`~unionfs_lib.errors.InvalidOption`, a ``ValueError``, which a
description turns into ``fs.errors.CreateFailed``.

>>> import attrs
>>> from unionfs_lib.model.validators import flag, whole_number
>>> @attrs.frozen
... class Example:
...     size: int = attrs.field(default=8, validator=whole_number(1, 64))
...     fast: bool = attrs.field(default=True, validator=flag)
>>> Example(size=0)
Traceback (most recent call last):
    ...
unionfs_lib.errors.InvalidOption: Example option size must be a whole number from 1 to 64, not 0
"""

from __future__ import annotations

import math
import typing

import attrs

from ..errors import InvalidOption

#: Longest repr of a bad value shown in a message.
_SHOWN = 80


def shown(value: object) -> str:
    """Return ``repr(value)``, cut short: what a message shows of a rejected value."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def refuse(owner: str, name: str, what: str, value: object) -> InvalidOption:
    """Build the error for option ``name`` of ``owner`` that is not ``what``."""
    return InvalidOption(f"{owner} option {name} must be {what}, not {shown(value)}")


def is_whole_number(value: object) -> bool:
    """Tell whether ``value`` is an ``int`` (``True``/``False`` are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_whole_number(owner: str, name: str, value: object, low: int, high: int) -> int:
    """Return ``value`` if it is an ``int`` from ``low`` to ``high``, else raise."""
    if not is_whole_number(value) or not low <= typing.cast(int, value) <= high:
        raise refuse(owner, name, f"a whole number from {low} to {high}", value)
    return typing.cast(int, value)


def check_number(owner: str, name: str, value: object, low: float, high: float) -> float:
    """Return ``value`` if it is a finite ``int`` or ``float`` from ``low`` to ``high``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise refuse(owner, name, f"a number from {low} to {high}", value)
    if not math.isfinite(value) or not low <= value <= high:
        raise refuse(owner, name, f"a number from {low} to {high}", value)
    return float(value)


def check_flag(owner: str, name: str, value: object) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (not ``1``, ``"no"`` or ``None``)."""
    if not isinstance(value, bool):
        raise refuse(owner, name, "True or False", value)
    return value


def check_choice(owner: str, name: str, value: object, choices: typing.Sequence[str]) -> str:
    """Return ``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise refuse(owner, name, "one of " + ", ".join(map(repr, choices)), value)
    return value


_Validator = typing.Callable[[typing.Any, "attrs.Attribute[typing.Any]", typing.Any], None]


def whole_number(low: int, high: int) -> _Validator:
    """Return an attrs validator accepting an ``int`` (not a ``bool``) from ``low`` to ``high``."""

    def validate(instance: object, attribute: attrs.Attribute[typing.Any], value: object) -> None:
        check_whole_number(type(instance).__name__, attribute.name, value, low, high)

    return validate


def number(low: float, high: float) -> _Validator:
    """Return an attrs validator accepting a finite number from ``low`` to ``high``."""

    def validate(instance: object, attribute: attrs.Attribute[typing.Any], value: object) -> None:
        check_number(type(instance).__name__, attribute.name, value, low, high)

    return validate


def flag(instance: object, attribute: attrs.Attribute[typing.Any], value: object) -> None:
    """Accept ``True`` or ``False`` only (an attrs validator)."""
    check_flag(type(instance).__name__, attribute.name, value)


__all__ = [
    "check_choice",
    "check_flag",
    "check_number",
    "check_whole_number",
    "flag",
    "is_whole_number",
    "number",
    "refuse",
    "shown",
    "whole_number",
]
