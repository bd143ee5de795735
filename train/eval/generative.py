"""What the generative evaluations share: the model folder, where results go, the system prompt, the
generator serving the model and the judge.

``EvalContext.open(...)`` resolves the system prompt (``--system-prompt``, else the one recorded in the
model's ``factory_train.json``, else the recipe's ``system_prompt``, else none; the source is recorded),
and makes the generator (default: vLLM offline on the model folder) and the judge (default: the
generator itself, flagged ``self_judged`` in the results). Engines start on first use and are shared by
every evaluation of one ``factory eval`` call; ``close()`` stops them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.llm.client import Generator, ModelClient, local_backend
from train.eval.results import provenance
from train.eval.specs import GenerativeSpec


def system_prompt_for(
    model_dir: Path, explicit: str | None = None, recipe_prompt: str | None = None
) -> tuple[str | None, str]:
    """(system prompt, where it came from): ``option``, ``factory_train.json``, ``recipe`` or ``none``."""
    if explicit is not None:
        return explicit or None, "option"
    recorded = provenance(model_dir).get("system_prompt")
    if recorded:
        return recorded, "factory_train.json"
    if recipe_prompt:
        return recipe_prompt, "recipe"
    return None, "none"


def system_turn(system_prompt: str | None) -> list[dict[str, str]]:
    """The system message of a chat, or none when there is no system prompt."""
    return [{"role": "system", "content": system_prompt}] if system_prompt else []


@dataclass
class EvalContext:
    """One model under evaluation and the backends that serve it and judge it."""

    model_dir: Path
    out_dir: Path
    data_dir: Path
    spec: GenerativeSpec
    system_prompt: str | None
    system_prompt_source: str
    device: str = "auto"
    store: Path | None = None
    _generator: Generator | None = field(default=None, repr=False)
    _judge: Generator | None = field(default=None, repr=False)

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            backend = self.spec.generator or local_backend(
                self.model_dir, self.device, self.spec.max_model_len
            )
            self._generator = Generator(backend, self.out_dir / "gen_cache", owner="the evaluated model")
        return self._generator

    @property
    def self_judged(self) -> bool:
        return self.spec.judge is None or ModelClient(self.spec.judge).describe() == self.generator.info

    @property
    def judge(self) -> Generator:
        if self.self_judged:
            return self.generator
        if self._judge is None:
            self._judge = Generator(self.spec.judge, self.out_dir / "gen_cache", owner="the judge")
        return self._judge

    def judge_info(self) -> dict[str, Any]:
        return {**self.judge.info, "self_judged": self.self_judged}

    def tokenizer(self) -> Any:
        """The model's tokenizer (to count prompt tokens), or None when the folder has none."""
        if not hasattr(self, "_tokenizer"):
            try:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
            except (OSError, ValueError):
                self._tokenizer = None
        return self._tokenizer

    def close(self) -> None:
        for gen in (self._judge, self._generator):
            if gen is not None:
                gen.close()
        self._judge = self._generator = None
