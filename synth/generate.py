"""``generate``: the generic LLM stage. Jinja templates over a row's fields make the messages; the answer
goes to a named column.

    - type: generate
      backend: {kind: openai, base_url: "http://127.0.0.1:8000/v1", model: my-model}
      system: "You are a careful medical assistant."
      prompt: "{{ question }}{% if options %}\\n{% for o in options %}{{ labels[loop.index0] }}. {{ o }}\\n{% endfor %}{% endif %}"
      output_column: answer          # a canonical column (string) or a new one
      set_kind: qa                   # prompt rows become qa rows (then to_chat makes SFT rows)
      sampling: {temperature: 0.7, max_tokens: 512, n: 1}

Templates see every column of the row, plus ``labels`` (A, B, C...). ``prompt_file`` reads the template
from a file (relative to the recipe's data folder; its content is part of the cache key). ``n > 1`` writes
a list of answers (``list<string>``). An empty answer is retried with a new seed (``max_attempts``), then
the row is dropped (``empty_generation``).
"""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, PrivateAttr, model_validator

from factory.hashing import stable_hash
from factory.llm.stage import GenerationStage
from factory.llm.types import Request, Response, Retry
from factory.mcqa.options import OPTION_LABELS
from factory.rows import CANONICAL_FIELDS, KINDS

Kind = Literal[KINDS]  # type: ignore[valid-type]


class Generate(GenerationStage):
    """In: any rows (the templates' fields must be there). Out: the same rows with ``output_column`` set to
    the model's answer (a list when ``sampling.n > 1``), ``model_column`` (if set) to the model's name, and
    ``kind`` to ``set_kind`` (if set). Rows whose answers stay empty are dropped (``empty_generation``)."""

    type: Literal["generate"] = "generate"
    system: str | None = Field(None, description="Jinja template of the system turn (none if unset)")
    prompt: str | None = Field(None, description="Jinja template of the user turn")
    prompt_file: str | None = Field(None, description="file holding the user-turn template (data folder)")
    output_column: str = Field("generation", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    model_column: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    set_kind: Kind | None = None  # type: ignore[valid-type]
    retry_empty: bool = Field(True, description="an empty answer counts as a failed attempt")

    _user: Any = PrivateAttr(None)
    _system: Any = PrivateAttr(None)

    @model_validator(mode="after")
    def _check(self):
        if (self.prompt is None) == (self.prompt_file is None):
            raise ValueError("set exactly one of `prompt` and `prompt_file`")
        as_text = self.output_column in ("answer", "explanation") and self.sampling.n == 1
        if self.output_column in CANONICAL_FIELDS and not as_text:
            raise ValueError(
                "output_column may be a canonical column only for `answer` or `explanation` with n = 1"
            )
        return self

    @property
    def adds(self) -> dict[str, pa.DataType]:
        out: dict[str, pa.DataType] = {
            self.output_column: pa.list_(pa.string()) if self.sampling.n > 1 else pa.string()
        }
        if self.model_column:
            out[self.model_column] = pa.string()
        return out

    def _template_text(self) -> str:
        if self.prompt is not None:
            return self.prompt
        return (self.data_dir / str(self.prompt_file)).read_text(encoding="utf-8")

    def input_fingerprint(self) -> Any:
        model = super().input_fingerprint()
        if self.prompt_file is None:
            return model
        return {"model": model, "prompt_file": stable_hash(self._template_text())}

    def setup(self) -> None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import SandboxedEnvironment

        env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
        self._user = env.from_string(self._template_text())
        self._system = env.from_string(self.system) if self.system else None

    def messages(self, row: dict[str, Any]) -> list[dict[str, str]]:
        context = {**row, "labels": OPTION_LABELS}
        out = []
        if self._system is not None:
            out.append({"role": "system", "content": self._system.render(context)})
        out.append({"role": "user", "content": self._user.render(context)})
        return out

    def build_requests(self, row: dict[str, Any], attempt: int) -> list[Request] | None:
        return [self.request(row, self.messages(row))]

    def parse(self, row: dict[str, Any], responses: list[Response], attempt: int) -> dict[str, Any] | Retry:
        (response,) = responses
        texts = [t.strip() for t in response.texts]
        if self.retry_empty and not any(texts):
            return Retry("empty_generation", f"finish_reasons={response.finish_reasons}")
        out = {**row, self.output_column: texts if self.sampling.n > 1 else texts[0]}
        if self.model_column:
            out[self.model_column] = response.model
        if self.set_kind:
            out["kind"] = self.set_kind
        return out
