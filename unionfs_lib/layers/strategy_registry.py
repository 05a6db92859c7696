"""The strategy registry: naming strategies so that a description can restore them.

A description (:mod:`unionfs_lib.layers.description`) records each strategy object
as data: which class, and its attrs fields as options. A description is data
from outside, so it must not name arbitrary code to import. The classes that
may be named are:

* the strategies this package ships, by a frozen name (their qualified class
  name when descriptions were first written, kept when a class moves)
  (``{"class": "unionfs_lib.whiteout.MarkerWhiteouts", "options": {}}``);
* third-party strategies registered under a name in the entry-point group
  :data:`ENTRY_POINT_GROUP` (``{"name": "sidecar", "options": {...}}``). A
  package registers one in its ``pyproject.toml``::

      [project.entry-points."unionfs_lib.strategies"]
      sidecar = "mypackage.stores:SidecarWhiteouts"

A strategy class must be an attrs class whose ``__init__`` fields are its
options, and those options must be JSON values.
"""

from __future__ import annotations

import importlib.metadata
import json
import typing

import attrs
import fs.errors

from ..errors import InvalidOption, UnregisteredStrategy, literal
from ..model.validators import shown
from ..ops.copy_up_engine import CopyUpEngine
from ..ops.dir_iterator import DirIterator
from ..stores.kernel_whiteouts import KernelWhiteouts
from ..stores.marker_whiteouts import MarkerWhiteouts

#: The entry-point group third-party strategies are registered in.
ENTRY_POINT_GROUP = "unionfs_lib.strategies"

#: The strategy classes this package ships, by the name a description records.
#: The names are frozen literals (as fsspec's ``known_implementations``): they
#: were the classes' qualified names when descriptions were first written, and
#: stay the same when a class moves to another module, so that every stored
#: description and ``overlay://`` URL keeps reopening.
BUILTIN: dict[str, type] = {
    "unionfs_lib.whiteout.MarkerWhiteouts": MarkerWhiteouts,
    "unionfs_lib.kernel_format.KernelWhiteouts": KernelWhiteouts,
    "unionfs_lib.copy_up.CopyUpEngine": CopyUpEngine,
    "unionfs_lib.readdir.DirIterator": DirIterator,
}


def builtin_name(cls: type) -> str | None:
    """Return the frozen name of built-in strategy class ``cls`` (not a subclass), or ``None``."""
    for name, builtin in BUILTIN.items():
        if builtin is cls:
            return name
    return None


def registered() -> dict[str, importlib.metadata.EntryPoint]:
    """Return the entry points of :data:`ENTRY_POINT_GROUP` by name."""
    found = importlib.metadata.entry_points()
    if hasattr(found, "select"):
        points = found.select(group=ENTRY_POINT_GROUP)
    else:  # Python 3.9: a dict of groups
        points = typing.cast(typing.Any, found).get(ENTRY_POINT_GROUP, ())
    return {point.name: point for point in points}


def registered_name(cls: type) -> str | None:
    """Return the name ``cls`` is registered under, or ``None``."""
    for name, point in registered().items():
        try:
            if point.load() is cls:
                return name
        except Exception:  # noqa: BLE001 - a broken plugin must not break describe
            continue
    return None


def strategy_options(strategy: object) -> dict[str, typing.Any]:
    """Return the ``__init__`` fields of an attrs strategy (checked to be JSON)."""
    options: dict[str, typing.Any] = {}
    cls = type(strategy)
    if attrs.has(cls):
        for field in attrs.fields(cls):
            if field.init and not field.name.startswith("_"):
                options[field.name] = getattr(strategy, field.name)
    json.dumps(options)  # strategy options must be JSON: fail here, not at restore
    return options


def describe_strategy(strategy: object) -> dict[str, typing.Any]:
    """Return the description of a strategy object.

    ``{"class": ..., "options": ...}`` for a built-in strategy,
    ``{"name": ..., "options": ...}`` for a registered one.

    Raises:
        unionfs_lib.errors.UnregisteredStrategy: the class is neither.

    """
    cls = type(strategy)
    builtin = builtin_name(cls)
    if builtin is not None:
        return {"class": builtin, "options": strategy_options(strategy)}
    name = registered_name(cls)
    if name is None:
        qualified = f"{cls.__module__}.{cls.__qualname__}"
        message = (
            f"strategy {qualified} is not registered: add it to the entry-point group "
            f"{ENTRY_POINT_GROUP!r} so that a description can name it"
        )
        raise UnregisteredStrategy(msg=literal(message))
    return {"name": name, "options": strategy_options(strategy)}


def strategy_class(spec: typing.Mapping[str, typing.Any]) -> type:
    """Return the class a strategy description names, or raise ``CreateFailed``."""
    if "name" in spec:
        name = spec["name"]
        point = registered().get(name) if isinstance(name, str) else None
        if point is None:
            message = f"no strategy is registered as {name!r} in {ENTRY_POINT_GROUP!r}"
            raise fs.errors.CreateFailed(msg=literal(message))
        try:
            cls = point.load()
        except Exception as error:  # noqa: BLE001 - report any plugin failure the same way
            message = f"the strategy registered as {name!r} cannot be loaded: {error}"
            raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error
    else:
        qualified = spec.get("class")
        cls = BUILTIN.get(qualified) if isinstance(qualified, str) else None
        if cls is None:
            message = f"strategy class {qualified!r} is not a unionfs_lib strategy"
            raise fs.errors.CreateFailed(msg=literal(message))
    if not (isinstance(cls, type) and attrs.has(cls)):
        raise fs.errors.CreateFailed(msg=literal(f"{cls!r} is not a strategy class"))
    return cls


def build_strategy(spec: typing.Mapping[str, typing.Any]) -> object:
    """Instantiate a strategy described by :func:`describe_strategy`.

    Anything wrong in ``spec`` (not a mapping, an unknown class, options
    that are not a mapping of names, an unknown or invalid option) raises
    ``fs.errors.CreateFailed`` whose message names the class and the option.
    """
    if not isinstance(spec, typing.Mapping):
        message = f"a strategy description must be a mapping, not {shown(spec)}"
        raise fs.errors.CreateFailed(msg=literal(message))
    cls = strategy_class(spec)
    options = spec.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(key, str) for key in options):
        message = f"options of {cls.__name__} must be a mapping of option names"
        raise fs.errors.CreateFailed(msg=literal(message))
    try:
        return cls(**options)
    except InvalidOption as error:
        raise fs.errors.CreateFailed(msg=literal(str(error)), exc=error) from error
    except (TypeError, ValueError) as error:
        message = f"bad options for {cls.__name__}: {error}"
        raise fs.errors.CreateFailed(msg=literal(message), exc=error) from error


def default_strategies() -> dict[str, dict[str, typing.Any]]:
    """Describe the strategies ``OverlayFS`` uses by default."""
    return {
        "whiteouts": describe_strategy(MarkerWhiteouts()),
        "copy_up": describe_strategy(CopyUpEngine()),
        "readdir": describe_strategy(DirIterator()),
    }


__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "build_strategy",
    "builtin_name",
    "default_strategies",
    "describe_strategy",
    "registered",
    "strategy_class",
]
