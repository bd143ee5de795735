"""The stage contract: every processing step of a recipe is one ``Stage`` subclass in one file.

A stage is a pydantic model: its fields are its recipe params (validated, bounded, hashed into its cache key).
What the runner reads before any worker starts:

- ``requires`` / ``adds`` (properties): columns, beyond the canonical ones of ``factory.rows``, that must exist
  upstream / that it adds, with their Arrow types. Constant or computed from params, always a property.
- ``resources`` (CPUs, GPUs, actor-pool size), ``stateful`` (``setup()`` loads a model: Ray runs the stage on
  a pool of actors), ``filter_only`` (it only drops rows: its cache entry lists the drops, copies no row),
  ``min_batch_size``, ``code_version`` (bump it when a change of code changes outputs).

Shapes (one example each in docs/STAGES.md):

1. Map on Arrow: ``process_table(table) -> table``: the same rows (those ``apply_to`` selects), in order,
   changed, with ``_drop`` (reason, null when kept) and ``_drop_detail`` columns.
2. Map on rows: ``process_rows(rows)`` or ``process_row(row)`` over row dicts; a dropped row comes back as
   ``drop(row, reason, detail)``. Every input row comes back, kept or dropped.
3. Filter: either map shape with ``filter_only = True``.
4. Global, keys and decide (``GlobalStage``): ``keys(rows)`` runs per shard in parallel and returns a few
   ``key_columns`` per row; ``decide(keys_table) -> Decision`` runs once on the driver.
5. Global in phases (``GlobalStage``): ``decide_distributed(shards, executor, spec, workdir) -> Decision``
   runs its own phases as tasks (``executor.run``) so that no process holds a key per row.
6. Custom (``CustomStage``; LLM generation is ``factory.llm.stage.GenerationStage``): ``run(files, executor,
   out_schema)`` drives execution itself and yields output tables.

Reporting, the same for every shape: a stage records figures on ``self.figures`` (``Figures``: ``add``,
``put``, ``extend``) from any method, on any worker or on the driver. The runner takes them from each task,
merges them on the driver as each figure's kind declares, and writes ``report(figures)`` (default: the
figures as they are) into the manifest under the stage.

New stages go in a module under ``filters/``, ``synth/`` or ``factory/stages/`` and are found by
``factory.registry``; the runner needs no change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from factory.errors import StageError
from factory.figures import Figures

DROP = "_drop"
DROP_DETAIL = "_drop_detail"


class Resources(BaseModel):
    """What one worker of a stage asks Ray for."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(1.0, gt=0)
    num_gpus: float = Field(0.0, ge=0)
    concurrency: int | None = Field(None, ge=1, description="actor-pool size for stateful stages")


class Selector(BaseModel):
    """Which rows a stage applies to; the others pass through untouched."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[str] | None = None
    sources: list[str] | None = None

    def matches(self, row: dict[str, Any]) -> bool:
        if self.kinds is not None and row.get("kind") not in self.kinds:
            return False
        if self.sources is not None and row.get("source") not in self.sources:
            return False
        return True

    def mask(self, table: pa.Table) -> pa.Array:
        """``matches`` for every row of ``table`` at once (a boolean array)."""
        out = pa.array(np.ones(table.num_rows, bool))
        for column, allowed in (("kind", self.kinds), ("source", self.sources)):
            if allowed is not None:
                found = pc.is_in(table.column(column), value_set=pa.array(allowed, pa.string()))
                out = pc.and_(out, pc.fill_null(found, False))
        return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def drop(row: dict[str, Any], reason: str, detail: str | None = None) -> dict[str, Any]:
    """Mark ``row`` as dropped by the current stage with a machine-readable ``reason``."""
    return {**row, DROP: reason, DROP_DETAIL: detail}


def is_dropped(row: dict[str, Any]) -> bool:
    return row.get(DROP) is not None


def with_drop_columns(schema: pa.Schema) -> pa.Schema:
    """``schema`` plus the ``_drop`` / ``_drop_detail`` string columns."""
    for name in (DROP, DROP_DETAIL):
        if name not in schema.names:
            schema = schema.append(pa.field(name, pa.string()))
    return schema


@dataclass
class Decision:
    """What a ``GlobalStage`` decided: which rows to drop and why, in one of two forms.

    ``by_id``: ``id -> (reason, detail)`` (``decide``, on the driver). ``files``: shard name -> Parquet files
    of ``pos, reason, detail`` (``decide_distributed``'s phases, written by workers; ``pos``: row numbers in
    the shard's file). The runner's shard tasks then write the drops."""

    by_id: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)


class Executor(Protocol):
    """What a stage that runs tasks (``decide_distributed``, ``CustomStage.run``) sees of the executor:
    ``run`` calls a module-level ``fn`` (a task: it returns a small dict) once per argument tuple, in process
    or as Ray tasks, and returns the dicts in call order; ``put`` shares a large value between calls."""

    name: str

    def run(
        self, fn: Callable, calls: list[tuple], resources: Resources | None = None, stateful: bool = False
    ) -> list[Any]: ...

    def put(self, value: Any) -> Any: ...


class Stage(BaseModel):
    """A map stage: ``process_table(Arrow batch) -> the same rows, changed, with _drop/_drop_detail``, or
    ``process_rows(list of row dicts) -> list of row dicts`` (kept or ``drop()``-ed)."""

    model_config = ConfigDict(extra="forbid")

    type: str
    name: str | None = Field(None, description="unique name in the recipe (default: the type)")
    apply_to: Selector | None = Field(None, description="only rows of these kinds/sources; others pass")
    batch_size: int = Field(1024, ge=1, le=1_000_000)

    resources: ClassVar[Resources] = Resources()
    stateful: ClassVar[bool] = False
    filter_only: ClassVar[bool] = False  # only drops rows, never changes or adds to them
    min_batch_size: ClassVar[int] = 1  # vectorised stages raise it: batches of max(batch_size, this)
    code_version: ClassVar[int] = 1  # bump when a change of code changes outputs (busts the cache)

    _artifacts: dict[str, Path] = PrivateAttr(default_factory=dict)
    _artifact_dir: Path | None = PrivateAttr(None)
    _data_dir: Path | None = PrivateAttr(None)
    _store_dir: Path | None = PrivateAttr(None)
    _figures: Figures = PrivateAttr(default_factory=Figures)

    @property
    def requires(self) -> tuple[str, ...]:
        """Columns beyond the canonical ones that an earlier stage must have added."""
        return ()

    @property
    def adds(self) -> dict[str, pa.DataType]:
        """Columns this stage adds, with their Arrow types."""
        return {}

    @property
    def stage_name(self) -> str:
        return self.name or self.type

    def params(self) -> dict[str, Any]:
        """The params that define this stage's output, and its name (the drop log records it): its cache key."""
        return self.model_dump(mode="json", exclude={"batch_size"})

    def setup(self) -> None:
        """Load models or build lookup tables; called once per worker before the first batch."""

    # -- the report ---------------------------------------------------------------------------------
    @property
    def figures(self) -> Figures:
        """Where this stage records what it reports, from any method (see ``Figures``)."""
        return self._figures

    def report(self, figures: Figures) -> dict[str, Any]:
        """The stage's manifest report from its figures merged over every task and the driver (called once,
        on the driver, after the stage ran). Default: the figures as they are."""
        return figures.as_dict()

    # -- artifacts: files a stage leaves for later stages and for the version (e.g. a trained model) --
    def artifact_inputs(self) -> list[str]:
        """Names of earlier stages whose artifacts this stage reads (``self.artifacts_of(name)``)."""
        return []

    def bind_runtime(self, runtime: dict[str, Any], artifact_dir: Path | None = None) -> None:
        """Called by the runner before ``setup()``, on the driver and on every worker. ``runtime``:
        ``data_dir`` (the recipe's data folder, for stages that read files such as benchmarks) and
        ``artifacts`` (stage name -> folder of the earlier stages this one reads). ``artifact_dir``:
        where a GlobalStage's ``decide`` writes its own artifacts."""
        self._data_dir = Path(runtime["data_dir"]) if runtime.get("data_dir") else None
        self._store_dir = Path(runtime["store_dir"]) if runtime.get("store_dir") else None
        self._artifacts = {k: Path(v) for k, v in runtime.get("artifacts", {}).items()}
        self._artifact_dir = Path(artifact_dir) if artifact_dir else None

    @property
    def data_dir(self) -> Path:
        """The recipe's data folder (relative paths in stage params resolve against it)."""
        return self._data_dir or Path.cwd()

    @property
    def store_dir(self) -> Path | None:
        """The store's root, for state that must outlive a killed build (e.g. a per-request generation cache)."""
        return self._store_dir

    def input_fingerprint(self) -> Any:
        """A content hash of files this stage reads besides its rows (benchmark files, a model), or None.

        Part of the stage's cache key and of the version id; called on the driver after ``bind_runtime``."""
        return None

    def artifacts_of(self, stage_name: str) -> Path:
        return self._artifacts[stage_name]

    @property
    def artifact_dir(self) -> Path:
        """Where a GlobalStage's ``decide`` writes files that go into the cache entry and the version."""
        if self._artifact_dir is None:
            raise RuntimeError(
                f"stage '{self.stage_name}' has no artifact folder here (only GlobalStage.decide)"
            )
        self._artifact_dir.mkdir(parents=True, exist_ok=True)
        return self._artifact_dir

    # -- the Arrow contract ------------------------------------------------------------------------
    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema of ``process_table``'s result for an input of ``schema``: ``adds`` appended, then the
        ``_drop`` / ``_drop_detail`` columns."""
        for name, dtype in self.adds.items():
            if name not in schema.names:
                schema = schema.append(pa.field(name, dtype))
        return with_drop_columns(schema)

    def apply_table(self, table: pa.Table) -> pa.Table:
        """What the runner calls: ``process_table`` on the rows ``apply_to`` selects; the others pass through.
        Returns every input row, in order, in ``output_schema(table.schema)``."""
        schema = self.output_schema(table.schema)
        if self.apply_to is None:
            return self._checked(self.process_table(table), table.num_rows, schema)
        mask = self.apply_to.mask(table).to_numpy(zero_copy_only=False)
        picked = np.flatnonzero(mask)
        if picked.size == table.num_rows:
            return self._checked(self.process_table(table), table.num_rows, schema)
        done = self._checked(self.process_table(table.take(picked)), picked.size, schema)
        rest = np.flatnonzero(~mask)
        passed = passthrough(table.take(rest), schema)
        order = np.empty(table.num_rows, np.int64)  # position in concat(done, passed) of each row
        order[picked] = np.arange(picked.size)
        order[rest] = picked.size + np.arange(rest.size)
        return pa.concat_tables([done, passed]).take(order)

    def _checked(self, out: pa.Table, rows: int, schema: pa.Schema) -> pa.Table:
        if out.num_rows != rows:
            raise StageError(
                f"stage '{self.stage_name}' returned {out.num_rows} rows for a batch of {rows}: "
                "every row must come back, kept or drop()-ed"
            )
        if DROP not in out.column_names:
            out = out.append_column(DROP, pa.nulls(rows, pa.string()))
        if DROP_DETAIL not in out.column_names:
            out = out.append_column(DROP_DETAIL, pa.nulls(rows, pa.string()))
        return out.select(schema.names).cast(schema)

    def process_table(self, table: pa.Table) -> pa.Table:
        """Override for a vectorised stage: the rows of ``table`` (already selected by ``apply_to``), in order,
        changed, with ``_drop`` (reason, null when kept) and ``_drop_detail``. A dropped row's other columns
        should hold its input values (they go to the drop log). The default runs the row API."""
        rows = table.to_pylist()
        out = self.process_rows(rows)
        if len(out) != len(rows):
            raise StageError(
                f"stage '{self.stage_name}' returned {len(out)} rows for a batch of {len(rows)}: "
                "every row must come back, kept or drop()-ed"
            )
        return pa.Table.from_pylist(out, schema=self.output_schema(table.schema))

    # -- the row contract ---------------------------------------------------------------------------
    def process_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Override this (or ``process_row``): rows here are already filtered by ``apply_to``."""
        return [self.process_row(r) for r in rows]

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement process_rows or process_row")


def passthrough(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table``'s rows unchanged and kept, in ``schema`` (columns it lacks are null)."""
    cols = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


class GlobalStage(Stage):
    """A stage deciding over the whole dataset. It implements one of:

    - ``keys(rows)`` (per shard, in parallel: ``id`` plus ``key_columns`` for each row ``apply_to`` selects)
      and ``decide(keys_table) -> Decision`` (once, on the driver, which holds the keys: a few small columns
      per row). ``decide`` may write files to ``self.artifact_dir``.
    - ``decide_distributed(shards, executor, spec, workdir) -> Decision``: its own phases as tasks on
      ``executor``, each a module-level function of ``spec`` (the step's task spec: ``worker_stage(spec)``
      gives the set-up stage) that writes under ``workdir``; the driver holds no key per row.

    The runner calls ``decide_distributed`` when the class overrides it, else ``keys`` then ``decide``."""

    key_columns: ClassVar[dict[str, pa.DataType]] = {}

    def keys(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise NotImplementedError(f"{type(self).__name__} implements keys + decide, or decide_distributed")

    def decide(self, keys: pa.Table) -> Decision:
        raise NotImplementedError(f"{type(self).__name__} implements keys + decide, or decide_distributed")

    def decide_distributed(
        self, shards: list[Any], executor: Executor, spec: dict[str, Any], workdir: Path
    ) -> Decision:
        """``shards``: the input ``factory.storage.shards.Shard``s, in pipeline order."""
        raise NotImplementedError(f"{type(self).__name__} implements keys + decide, or decide_distributed")

    @classmethod
    def in_phases(cls) -> bool:
        """Whether this stage decides by ``decide_distributed`` (its own phases) rather than keys + decide."""
        return cls.decide_distributed is not GlobalStage.decide_distributed


class CustomStage(Stage):
    """A stage that drives execution itself (e.g. LLM generation, whose loop streams rows through engines).

    ``run(files, executor, out_schema)`` reads the input Parquet ``files`` (``factory.storage.store.read_tables``)
    and yields Arrow tables of ``out_schema`` (which includes the ``_drop``/``_drop_detail`` columns), on the
    driver. Every input row must come out once, kept or dropped. ``bind_runtime`` has been called
    (``data_dir``, ``store_dir``, ``artifact_dir``) before ``run``."""

    def run(self, files: list[Path], executor: Executor, out_schema: pa.Schema) -> Iterator[pa.Table]:
        raise NotImplementedError
