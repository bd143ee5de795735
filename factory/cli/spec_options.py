"""Command-line options made from pydantic fields, so that one place (the model) states each setting.

``SpecOption(model, field, at, panel)`` names one field of a pydantic model and where its value goes in
the nested settings dict (``at``: the keys leading to that model, e.g. ``("generative", "medprompt")``).
Its option ``--field-name`` takes the field's type (a ``Literal`` as choices, a ``bool`` as
``--x/--no-x``, a list as comma-separated values), the field's description and default as help, and its
``ge``/``le`` bounds as the option's range. Every option defaults to unset, so a value the user does not
give leaves the recipe's (or the model's default) alone; the model validates the result.

``spec_fields(model, at, panel)`` lists a model's fields that make options (nested models and other
structured fields are left to the recipe); ``spec_options(options)`` adds options to a typer command
whose function takes ``**settings``; ``apply(data, options, settings)`` writes the given values into the
settings dict; ``validated(model, data, options, source)`` validates it, reporting a bad value as a usage
error of the option that set it.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rich.markup import escape

from factory.errors import RecipeError

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)
_SCALARS = (int, float, str, bool)


def _plain(annotation: Any) -> Any:
    """``X`` for ``X | None``; the annotation itself otherwise."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_scalar(annotation: Any) -> bool:
    return annotation in _SCALARS or get_origin(annotation) is Literal


def _option_type(info: FieldInfo) -> tuple[Any, bool] | None:
    """(the option's value type, whether the field is a list), or None when no option can stand for it."""
    plain = _plain(info.annotation)
    if _is_scalar(plain):
        return plain, False
    if get_origin(plain) is list and len(get_args(plain)) == 1 and _is_scalar(get_args(plain)[0]):
        return str, True
    return None


def _shown_default(info: FieldInfo) -> str | None:
    default = info.get_default(call_default_factory=True)
    if default is None:
        return None
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, list):
        return ",".join(str(v) for v in default)
    return str(default)


@dataclass(frozen=True)
class SpecOption:
    """One pydantic field offered as a command-line option; its value goes to ``at + (field,)``."""

    model: type[BaseModel]
    field: str
    at: tuple[str, ...] = ()
    panel: str | None = None

    @property
    def info(self) -> FieldInfo:
        return self.model.model_fields[self.field]

    @property
    def is_list(self) -> bool:
        found = _option_type(self.info)
        return bool(found and found[1])

    def parameter(self) -> inspect.Parameter:
        """The typer parameter: ``--field-name`` typed, bounded and described from the field."""
        found = _option_type(self.info)
        if found is None:
            raise TypeError(f"{self.model.__name__}.{self.field}: no command-line option for this type")
        value_type, is_list = found
        flag = "--" + self.field.replace("_", "-")
        decls = f"{flag}/--no-{flag[2:]}" if value_type is bool else flag
        help_ = self.info.description or ""
        if is_list:
            choices = get_args(get_args(_plain(self.info.annotation))[0])
            help_ += f" (comma-separated{': ' + ', '.join(choices) if choices else ''})"
        shown = _shown_default(self.info)
        if shown is not None:
            help_ += f" [default: {shown}]"
        bounds = {
            name: getattr(m, attr)
            for m in self.info.metadata
            for name, attr in (("min", "ge"), ("max", "le"))
            if hasattr(m, attr) and value_type in (int, float)
        }
        option = typer.Option(decls, help=escape(help_.strip()), rich_help_panel=self.panel, **bounds)
        return inspect.Parameter(
            self.field,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[value_type | None, option],
        )


def spec_fields(
    model: type[BaseModel], at: tuple[str, ...] = (), panel: str | None = None, only: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> list[SpecOption]:  # fmt: skip
    """An option per field of ``model`` that has a plain type (``only``: these fields, in this order)."""
    names = only or [n for n in model.model_fields if n not in skip]
    return [SpecOption(model, n, at, panel) for n in names if _option_type(model.model_fields[n]) is not None]


def _has_panel(param: inspect.Parameter) -> bool:
    return any(getattr(m, "rich_help_panel", None) for m in get_args(param.annotation)[1:])


def spec_options(options: Sequence[SpecOption]) -> Callable[[F], F]:
    """Add ``options`` to a typer command function that takes ``**settings``: typer sees the function's own
    parameters with the options placed before the first one shown in a help panel of its own (so the help
    reads: plain options, the settings' panels, then the command's panels); the function receives the
    options' values (None: not given) in ``settings``."""

    def wrap(func: F) -> F:
        sig = inspect.signature(func, eval_str=True)
        own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        names = [p.name for p in own] + [o.field for o in options]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"{func.__name__}: options named twice: {twice}")
        cut = next((i for i, p in enumerate(own) if _has_panel(p)), len(own))
        later = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own[cut:]]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            return func(**kwargs)

        params = [*own[:cut], *(o.parameter() for o in options), *later]
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        return command  # type: ignore[return-value]

    return wrap


def apply(data: dict[str, Any], options: Sequence[SpecOption], settings: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a model's ``model_dump()``) with the options given in ``settings`` written in place."""
    for opt in options:
        value = settings.get(opt.field)
        if value is None:
            continue
        if opt.is_list:
            value = [v.strip() for v in str(value).split(",") if v.strip()]
        target = data
        for key in opt.at:
            target = target[key]
        target[opt.field] = value
    return data


def validated(model: type[M], data: dict[str, Any], options: Sequence[SpecOption], source: str) -> M:
    """``model`` validated from ``data``. A problem in a value an option sets is that option's usage error
    (``Invalid value for '--k': ...``, exit 2); any other is a ``RecipeError`` of ``source``."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
    for loc, msg in problems:
        for opt in options:
            path = (*opt.at, opt.field)
            if loc[: len(path)] == path:
                raise typer.BadParameter(msg, param_hint=f"'--{opt.field.replace('_', '-')}'")
    raise RecipeError(source, [(".".join(loc), msg) for loc, msg in problems])
