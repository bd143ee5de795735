"""Finds every stage type: each ``Stage`` subclass with a ``type: Literal[...]`` field in a module of the
stage packages and their subpackages. Adding a stage = adding a module; neither this file nor the runner changes."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import typing

from factory.stage import Stage

STAGES_GROUP = "aloe_factory.stages"


def stage_packages() -> list[str]:
    """The packages whose modules hold stages: the entry points of ``STAGES_GROUP`` (this project registers
    ``factory.stages``, ``filters`` and ``synth`` in pyproject.toml; another installed package may add its own)."""
    from importlib.metadata import entry_points

    return sorted({ep.value for ep in entry_points(group=STAGES_GROUP)})


def _type_name(cls: type[Stage]) -> str | None:
    field = cls.model_fields.get("type")
    if field is None or typing.get_origin(field.annotation) is not typing.Literal:
        return None
    (name,) = typing.get_args(field.annotation)
    return name


@functools.cache
def stage_classes() -> dict[str, type[Stage]]:
    """``type`` name -> stage class, over every module of ``stage_packages()`` and their subpackages."""
    found: dict[str, type[Stage]] = {}
    for package_name in stage_packages():
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if not issubclass(cls, Stage) or cls.__module__ != module.__name__:
                    continue
                name = _type_name(cls)
                if name is None:
                    continue
                if name in found and found[name] is not cls:
                    raise TypeError(f"stage type '{name}' defined twice: {found[name]} and {cls}")
                found[name] = cls
    return dict(sorted(found.items()))
