"""Recipe: the YAML file that defines a build. Validated by pydantic before any work starts.

Top-level keys: ``name``, ``description``, ``extends``, ``system_prompt``, ``data_dir``, ``store`` (or a URL),
``storage_options``, ``executor``, ``sources``, ``stages``, ``outputs``, ``drop_log``. Unknown keys are errors; every error is
reported with its path in the recipe and, where it can be found, its file and line.

``extends: other.yaml`` deep-merges this recipe over another (mappings merge, lists and scalars replace).
``set: {a.b.c: value}`` in a recipe overrides values of the merged chain (a profile: one stage's param
without restating the stage list); ``--set a.b.c=value`` overrides one value after that (YAML-parsed; list items by index or, for
``stages`` and ``sources``, by ``name``/``type``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, create_model, model_validator

from factory.errors import RecipeError, StageError
from factory.rows import CANONICAL_FIELDS, KINDS
from factory.rows import schema as row_schema
from factory.sources.config import SourceConfig

Kind = Literal[KINDS]  # type: ignore[valid-type]


class ExecutorConfig(BaseModel):
    """Where stages run. ``auto``: Ray when ``RAY_ADDRESS`` is set or the input is large, else in process."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["auto", "local", "ray"] = "auto"
    ray_min_rows: int = Field(
        250_000,
        ge=0,
        description="auto: below this many input rows, run in process (break-even measured in BENCHMARKS.md)",
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs for an embedded local Ray (default: all)")


class OutputConfig(BaseModel):
    """One output dataset: which rows go in and how they are written."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["messages", "preference", "rows"] = Field(
        description="messages: SFT chat rows (id, source, messages); preference: prompt/chosen/rejected; rows: all columns"
    )
    kinds: list[Kind] | None = Field(None, description="row kinds included (default: those the format needs)")  # type: ignore[valid-type]
    sources: list[str] | None = Field(
        None,
        description="only rows of these sources (default: all). A row goes to the first output that takes it, outputs with `sources` first",
    )
    shard_rows: int = Field(100_000, ge=1, description="rows per Parquet shard")
    columns: list[str] | None = Field(None, description="more columns to write, even if no row fills them")
    test_share: float = Field(
        0.0, ge=0, lt=1, description="share of rows in a `test` split beside `train` (by a seeded id hash)"
    )
    split_seed: int = Field(0, description="seed of the id hash that picks the test rows")


class DropLogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_rows: bool = Field(True, description="store each dropped row's content (JSON) beside its reason")


class RecipeBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    extends: str | None = Field(None, description="another recipe this one is merged over (resolved at load)")
    system_prompt: str | None = Field(None, description="system turn of every SFT/preference conversation")
    data_dir: str | None = Field(
        None, description="base folder of source paths (default: the recipe's folder)"
    )
    store: str = Field("store", description="store: a folder relative to the cwd, or an fsspec URL (s3://...)")
    storage_options: dict[str, Any] = Field({}, description="fsspec options of a URL store; never in a version")
    executor: ExecutorConfig = ExecutorConfig()
    sources: list[SourceConfig] = Field(min_length=1)
    outputs: dict[str, OutputConfig] = Field(min_length=1)
    drop_log: DropLogConfig = DropLogConfig()

    _file: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _cross_checks(self):
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {dupes}")
        stage_names = [s.stage_name for s in self.stages]  # type: ignore[attr-defined]
        dupes = sorted({n for n in stage_names if stage_names.count(n) > 1})
        if dupes:
            raise ValueError(f"stage names must be unique (give repeated types a `name:`): {dupes}")
        for stage in self.stages:  # type: ignore[attr-defined]
            if stage.apply_to and stage.apply_to.sources:
                unknown = sorted(set(stage.apply_to.sources) - set(names))
                if unknown:
                    raise ValueError(f"stage '{stage.stage_name}': apply_to names unknown sources {unknown}")
            for ref in getattr(stage, "source_refs", lambda: [])():
                if ref not in names:
                    raise ValueError(f"stage '{stage.stage_name}': unknown source '{ref}' (sources: {names})")
            # Stages with a `system_prompt` param default to the recipe's (resolved here, so it is hashed).
            if "system_prompt" in type(stage).model_fields and stage.system_prompt is None:
                stage.system_prompt = self.system_prompt
        for out_name, out in self.outputs.items():
            unknown = sorted(set(out.sources or []) - set(names))
            if unknown:
                raise ValueError(f"output '{out_name}': unknown sources {unknown} (sources: {names})")
        return self

    # --- resolved paths -------------------------------------------------------------------------
    @property
    def file(self) -> Path:
        return self._file or Path.cwd() / "recipe.yaml"

    @property
    def base_dir(self) -> Path:
        return self.file.parent

    @property
    def data_path(self) -> Path:
        return (self.base_dir / self.data_dir).resolve() if self.data_dir else self.base_dir

    def content(self) -> dict[str, Any]:
        """What defines the data (hashed into the version id): no store path, executor or description."""
        return self.model_dump(mode="json", exclude={"store", "storage_options", "executor", "description", "extends", *recipe_sections()})


SECTIONS_GROUP = "aloe_factory.recipe_sections"


@functools.cache
def recipe_sections() -> dict[str, type[BaseModel]]:
    """Recipe sections that the floors above this one add, by the entry points of ``SECTIONS_GROUP``
    (``train:``, from ``train.config``). Sections are settings of later commands, never part of the version id."""
    from importlib.metadata import entry_points

    return {ep.name: ep.load() for ep in entry_points(group=SECTIONS_GROUP)}


@functools.cache
def recipe_model() -> type[RecipeBase]:
    """The Recipe model, with ``stages`` a union of every registered stage type (discriminated by ``type``)
    and one optional field per registered section."""
    from factory.registry import stage_classes

    classes = tuple(stage_classes().values())
    stage_union = Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007
    sections: dict[str, Any] = {
        name: (model | None, Field(None, description=(model.__doc__ or name).strip().splitlines()[0]))
        for name, model in recipe_sections().items()
    }
    return create_model(
        "Recipe",
        __base__=RecipeBase,
        __doc__="An aloe-factory recipe.",
        stages=(list[stage_union], Field(default_factory=list, description="ordered processing stages")),
        **sections,
    )


# --- loading ----------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. (YAML 1.1 reads `on`, `off`, `yes`, `no` as booleans, which turns
    a stage param named `on` into the key True.)"""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    return over


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(str(path), [("<file>", "recipe file not found")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        raise RecipeError(str(path), [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(data, dict):
        raise RecipeError(
            str(path), [("<top>", "a recipe is a YAML mapping of keys (name, sources, stages...)")]
        )
    return data


def _load_chain(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[Path]]:
    """The recipe at ``path`` merged over its ``extends`` chain; also the files, child first."""
    path = path.resolve()
    if path in seen:
        raise RecipeError(str(path), [("extends", "recipes extend each other in a cycle")])
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    sets = data.pop("set", None) or {}
    if not isinstance(sets, dict):
        raise RecipeError(
            str(path), [("set", "a mapping of KEY.PATH: value (as --set), e.g. stages.cot.sampling.seed: 1")]
        )
    if parent is None:
        merged, files = data, [path]
    elif not isinstance(parent, str):
        raise RecipeError(str(path), [("extends", "must be a path to another recipe")])
    else:
        base, chain = _load_chain((path.parent / parent), (*seen, path))
        merged, files = _deep_merge(base, data), [path, *chain]
    for key, value in sets.items():
        _set_path(merged, str(key), value, where=f"{path} (set:)")
    return merged, files


def _set_path(data: dict[str, Any], dotted: str, value: Any, where: str = "--set") -> None:
    origin = where
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        at = ".".join(parts[: i + 1])
        if isinstance(node, list):
            index = _list_index(node, part)
            if index is None:
                raise RecipeError(origin, [(dotted, f"no item '{part}' in list at '{at}'")])
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise RecipeError(origin, [(dotted, f"'{at}' is not a mapping or list")])


def _list_index(items: list[Any], key: str) -> int | None:
    if key.lstrip("-").isdigit():
        index = int(key)
        return index if -len(items) <= index < len(items) else None
    for i, item in enumerate(items):
        if isinstance(item, dict) and (
            item.get("name") == key or (item.get("name") is None and item.get("type") == key)
        ):
            return i
    return None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        if "=" not in item:
            raise RecipeError("--set", [(item, "expected KEY.PATH=VALUE")])
        key, raw = item.split("=", 1)
        _set_path(data, key.strip(), load_yaml(raw) if raw.strip() else "")
    return data


def _line_of(files: list[Path], loc: tuple[Any, ...]) -> str | None:
    """``file:line`` where ``loc`` is written, searching the extends chain child first."""
    for path in files:
        try:
            node = yaml.compose(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        line = None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                match = [v for k, v in node.value if k.value == str(part)]
                if not match:
                    continue  # a discriminator tag or a model name in pydantic's loc
                node = match[0]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                break
            line = node.start_mark.line + 1
        if line is not None:
            return f"{path.name}:{line}"
    return None


def recipe_line(recipe: RecipeBase, loc: tuple[Any, ...]) -> str | None:
    """``file:line`` where ``loc`` (e.g. ``("stages", 2, "backend", "model")``) is written in the recipe's
    own file, or None (a recipe built in code, a setting inherited through ``extends``)."""
    return _line_of([recipe._file], loc) if recipe._file else None


def _format_loc(loc: tuple[Any, ...], data: Any) -> str:
    """``stages[1].min_chars`` from pydantic's loc, leaving out the union tag (the stage's ``type``)."""
    out, node = "", data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
        elif isinstance(node, dict) and node.get("type") == part and part not in node:
            continue
        elif isinstance(part, str) and part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "<top>"


def validate_recipe(data: dict[str, Any], files: list[Path], label: str) -> RecipeBase:
    try:
        recipe = recipe_model().model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            where = _format_loc(loc, data)
            line = _line_of(files, loc)
            problems.append((f"{where} ({line})" if line else where, err["msg"]))
        raise RecipeError(label, problems) from None
    recipe._file = files[0] if files else None
    return recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RecipeBase:
    """Read, merge (``extends``), override (``--set``) and validate a recipe file."""
    data, files = _load_chain(Path(path))
    apply_overrides(data, list(overrides or []))
    recipe = validate_recipe(data, files, str(path))
    check_plan(recipe)  # columns chain, before any worker starts
    return recipe


def check_plan(recipe: RecipeBase) -> list[pa.Schema]:
    """Check that every stage's required columns exist upstream; the schema after each stage."""
    schemas = [row_schema()]
    available = dict(CANONICAL_FIELDS)
    for i, stage in enumerate(recipe.stages):  # type: ignore[attr-defined]
        missing = [c for c in stage.requires if c not in available]
        if missing:
            raise RecipeError(
                str(recipe.file),
                [
                    (
                        f"stages[{i}] ({stage.stage_name})",
                        f"needs columns {missing} that no earlier stage adds",
                    )
                ],
            )
        earlier = [s.stage_name for s in recipe.stages[:i]]  # type: ignore[attr-defined]
        unknown = [n for n in stage.artifact_inputs() if n not in earlier]
        if unknown:
            raise RecipeError(
                str(recipe.file),
                [
                    (
                        f"stages[{i}] ({stage.stage_name})",
                        f"reads artifacts of {unknown}, which is not an earlier stage",
                    )
                ],
            )
        for name, dtype in stage.adds.items():
            if name in available and available[name] != dtype:
                raise StageError(f"stage '{stage.stage_name}' redefines column '{name}' with another type")
            available[name] = dtype
        schemas.append(row_schema({k: v for k, v in available.items() if k not in CANONICAL_FIELDS}))
    for name, out in recipe.outputs.items():
        unknown = [c for c in out.columns or [] if c not in available]
        if unknown:
            raise RecipeError(str(recipe.file), [(f"outputs.{name}.columns", f"{unknown} are not in the rows")])
    return schemas


def recipe_json_schema() -> dict[str, Any]:
    return recipe_model().model_json_schema()
