"""Recipe entries for sources: where the rows come from and which adapter maps them to canonical rows."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factory.rows import KINDS

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "txt")


class FieldMap(BaseModel):
    """For ``adapter: fields``: canonical field -> source field (a dotted path, or a list joined by blank lines).

    For ``mcqa``, ``options`` may name a list or a dict of label -> text; ``answer`` may hold a letter, a
    0-based index (``answer_idx``) or the text of the right option.
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    question: str | list[str] | None = None
    context: str | list[str] | None = None
    options: str | None = None
    answer: str | list[str] | None = None
    answer_idx: str | None = None
    explanation: str | list[str] | None = None
    messages: str | None = None
    prompt: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    text: str | list[str] | None = None
    subject: str | None = None


class SourceConfig(BaseModel):
    """One input of a recipe: local files (``path``, globs allowed) or a Hugging Face dataset (``hub``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", description="unique; becomes each row's `source`")
    path: str | list[str] | None = Field(
        None, description="file path(s) or globs, relative to the recipe file"
    )
    hub: str | None = Field(None, description="Hugging Face dataset id, e.g. openlifescienceai/medmcqa")
    config: str | list[str] | None = Field(
        None, description="hub dataset config name; a list reads each config in turn (same columns)"
    )
    split: str = Field("train", description="split; `a+b` reads several (datasets' split syntax)")
    revision: str | None = Field(None, description="hub revision (commit, tag or branch); pin it")
    format: Literal["jsonl", "json", "csv", "tsv", "parquet", "txt"] | None = Field(
        None, description="default: from the file extension (.gz allowed)"
    )
    csv_columns: list[str] | None = Field(None, description="column names for a CSV without a header row")
    adapter: str = Field(description="how records map to canonical rows (see `factory adapters`)")
    kind: Literal[KINDS] | None = Field(None, description="row kind, for `adapter: fields`")  # type: ignore[valid-type]
    fields: FieldMap | None = Field(None, description="field mapping, for `adapter: fields`")
    on_error: Literal["fail", "skip"] = Field(
        "fail", description="fail: a bad row stops the build; skip: it goes to the drop log"
    )
    limit: int | None = Field(None, ge=1, description="read only the first N records")
    licence: str | None = Field(None, description="reported in the manifest and the dataset card")

    @model_validator(mode="after")
    def _one_origin(self) -> SourceConfig:
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of `path` (local files) or `hub` (a Hugging Face dataset id)")
        if self.adapter == "fields" and (self.fields is None or self.kind is None):
            raise ValueError("`adapter: fields` needs `kind` and `fields`")
        if self.adapter != "fields" and (self.fields is not None or self.kind is not None):
            raise ValueError("`kind` and `fields` are only for `adapter: fields`")
        return self

    @property
    def paths(self) -> list[str]:
        if self.path is None:
            return []
        return [self.path] if isinstance(self.path, str) else list(self.path)
