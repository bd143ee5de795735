"""Instruction complexity and response quality scores in the DEITA manner (Liu et al. 2024, arXiv
2312.15685), as the Aloe Beta recipe uses them before cutting the lowest 10% by "evol score".

DEITA scores each sample twice, from 1 to 6: the complexity of its instruction alone, and the quality of
its response to that instruction; evol score = quality x complexity. DEITA reads each score from its own
fine-tuned scorer models as the expected value over the score tokens' probabilities (its code: a softmax
over the logits of the tokens "1".."6" at the answer position, then sum p_i x i). Here any model of the
generation backends is prompted for an integer 1..N (``deita_complexity.j2`` / ``deita_quality.j2``),
constrained by a structured-output ``Guide`` (``choice``) where the backend enforces one, and the answer is
read with ``read_score`` either way ("4", "Quality: 4/6", "Score: 4", ``{"score": 4}``, ``[[4]]``...).
(``synth.judge.parse_score``, made for rubric judges that reason first, also takes a text's last number:
too loose for a small model that echoes the prompt's numbered scale.)

The requests ask for the top ``logprobs`` of each token (vLLM offline and OpenAI-compatible servers return
them): the score is then DEITA's expectation at the position of the token that wrote the integer read
(``expected_score``), and the sampled integer only where the backend returned no logprobs (or none of the
score tokens is among the top ones; scales above 9, whose 10 is not one token). Which one was used is
recorded per row (``score_method``: ``logprobs``, ``sampled``, or ``mixed`` when the two scores of a row
were read differently). Expected scores rarely tie, so the evol cut no longer breaks most of its ties by
chance (BENCHMARKS.md, "DEITA's expected score").

The scores are written as columns (``quality``, ``complexity``, ``score_model``, ``score_method``);
``filters.evol_cut`` decides. A row whose score cannot be read after ``max_attempts`` is dropped
(``unscorable``), as DEITA drops the samples it cannot score.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field, PrivateAttr

from factory.figures import Figures
from factory.llm.logprobs import class_probabilities
from factory.llm.stage import GenerationStage
from factory.llm.types import Guide, Logprobs, Request, Response, Retry, SamplingConfig
from factory.mcqa.options import option_line, option_lines
from synth.cot import files_fingerprint, jinja_env, template_folder

SCORES = ("complexity", "quality")
_NUM = r"(\d{1,2}(?:\.\d+)?)"
_BARE = re.compile(r"[\W_]*" + _NUM + r"[\W_]*")
_LABELLED = re.compile(
    r"\b(?:quality|complexity|score|rating)\b[^\n\d]{0,12}?"
    + _NUM
    + r"(?!\.\d)(?:\s*(?:/|out\s+of)\s*(\d+))?",
    re.I,
)
_BRACKETED = re.compile(r"\[\[\s*" + _NUM + r"\s*\]\]")
_OUT_OF = re.compile(_NUM + r"\s*(?:/|out\s+of)\s*(\d+)\b", re.I)


def read_score(text: str | None, scale: int) -> float | None:
    """A 1..``scale`` score from what a model wrote: the whole text a number ("4", "4."), ``[[4]]``,
    ``{"score": 4}``, a labelled number ("Quality: 5/6", "complexity 3", "Score: 4"), or "4 out of 6" /
    "4/6" on this scale. ``None`` otherwise, and for a number out of range or on another scale ("7/10").
    Deliberately not "the last number of the text": a model that echoes the prompt's enumerated scale
    ("1. A simple request... 5.") has not scored anything."""
    if not text or not text.strip():
        return None
    text = text.replace("**", "").replace("`", "").strip()
    found: list[tuple[str, str | None]] = []
    bare = _BARE.fullmatch(text)
    if bare:
        found.append((bare.group(1), None))
    found += [(m.group(1), None) for m in _BRACKETED.finditer(text)]
    for match in re.finditer(r"\{[^{}]*\}", text):
        try:
            obj = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        for key in ("score", "quality", "complexity", "rating"):
            value = obj.get(key) if isinstance(obj, dict) else None
            if (
                isinstance(value, (int, float, str))
                and not isinstance(value, bool)
                and re.fullmatch(_NUM, str(value))
            ):
                found.append((str(value), None))
    found += [(m.group(1), m.group(2)) for m in _LABELLED.finditer(text)]
    found += [(m.group(1), m.group(2)) for m in _OUT_OF.finditer(text)]
    if not found:
        return None
    number, out_of = found[-1] if len(found) > 1 and not bare else found[0]
    value = float(number)
    if out_of is not None and int(out_of) != scale:
        return None
    return value if 1 <= value <= scale else None


def expected_score(logprobs: Logprobs | None, value: float, scale: int) -> float | None:
    """DEITA's score: sum of p_i x i over the score tokens "1".."scale" at the position of the token that
    wrote ``value`` (what ``read_score`` read), p renormalised over the score tokens found among that
    position's top logprobs (tokens written with a space count as the digit). ``None`` when there are no
    logprobs, ``value`` is not one token's integer (a decimal, a scale above 9) or no position wrote it."""
    if not logprobs or scale > 9 or value != int(value):
        return None
    digits = {str(i) for i in range(1, scale + 1)}
    target = str(int(value))
    for token, top in logprobs:
        if token.strip() == target:
            probs = class_probabilities(top, lambda t: t.strip() if t.strip() in digits else None)
            return sum(int(d) * p for d, p in probs.items()) if probs else None
    return None


def instruction_and_response(row: dict[str, Any]) -> tuple[str, str] | None:
    """What is scored: the instruction (MCQA with its lettered options; a chat's last user turn, with the
    earlier turns above it) and its response (QA answer; MCQA gold option and explanation; the chat's last
    assistant turn). ``None`` for rows without both (prompts, preference pairs, text)."""
    kind = row.get("kind")
    if kind == "qa" and row.get("question") and row.get("answer"):
        return row["question"], row["answer"]
    if kind == "mcqa" and row.get("question") and row.get("options") and row.get("answer_idx") is not None:
        lines = [row["context"]] if row.get("context") else []
        lines.append(row["question"])
        lines += option_lines(row["options"])
        gold = int(row["answer_idx"])
        answer = option_line(gold, row["options"][gold])
        if row.get("explanation"):
            answer = f"{row['explanation']}\n\nAnswer: {answer}"
        return "\n".join(lines), answer
    if kind == "chat":
        turns = [m for m in row.get("messages") or [] if m.get("content") and m["role"] != "system"]
        last = max((i for i, m in enumerate(turns) if m["role"] == "assistant"), default=None)
        if last is None or not any(m["role"] == "user" for m in turns[:last]):
            return None
        before = turns[:last]
        if len(before) == 1:
            return before[0]["content"], turns[last]["content"]
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in before), turns[last]["content"]
    return None


class DeitaScore(GenerationStage):
    """LLM scores of instruction complexity and response quality, 1..``scale`` each. In: QA, MCQA and chat
    rows (others pass untouched, scores null). Out: ``complexity`` and/or ``quality`` (float: DEITA's
    expected score where the backend returns logprobs, else the sampled integer), ``score_model`` and
    ``score_method`` (logprobs / sampled / mixed); rows whose score stays unreadable are dropped with
    ``unscorable`` and what the model wrote. ``score: complexity`` or ``quality`` asks one of the two (e.g.
    one stage per DEITA scorer model). The report counts rows per method and warns when a backend returned
    no logprobs."""

    code_version: ClassVar[int] = 2  # 2: expected scores from logprobs, score_method
    type: Literal["deita_score"] = "deita_score"
    score: Literal["both", "complexity", "quality"] = "both"
    scale: int = Field(6, ge=2, le=10, description="scores run 1..scale (DEITA: 6)")
    structured: bool = Field(True, description="constrain the answer to 1..scale (Guide choice)")
    max_text_chars: int = Field(6000, ge=100, description="instruction and response are cut to this")
    templates_dir: str | None = Field(None, description="default: the built-in synth/templates")
    complexity_template: str = "deita_complexity.j2"
    quality_template: str = "deita_quality.j2"
    sampling: SamplingConfig = SamplingConfig(temperature=0.0, max_tokens=16)
    max_attempts: int = Field(2, ge=1, le=10)
    logprobs: int = Field(
        20,
        ge=0,
        le=20,
        description="top logprobs asked per token for DEITA's expected score (OpenAI allows 20; 0: read the "
        "sampled integer only; not asked on a scale above 9)",
    )

    _templates: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def asked(self) -> tuple[str, ...]:
        return SCORES if self.score == "both" else (self.score,)

    @property
    def asks_logprobs(self) -> bool:
        """Whether requests ask for logprobs (``logprobs`` > 0, and a scale whose scores are single digits)."""
        return self.logprobs > 0 and self.scale <= 9

    @property
    def adds(self) -> dict[str, pa.DataType]:
        scores = {name: pa.float64() for name in self.asked}
        return {**scores, "score_model": pa.string(), "score_method": pa.string()}

    def _files(self) -> dict[str, Any]:
        folder = template_folder(self.templates_dir, self.data_dir)
        names = {"complexity": self.complexity_template, "quality": self.quality_template}
        return {name: folder / names[name] for name in self.asked}

    def input_fingerprint(self) -> Any:
        return {
            "model": super().input_fingerprint(),
            "templates": files_fingerprint(list(self._files().values())),
        }

    def setup(self) -> None:
        folder = template_folder(self.templates_dir, self.data_dir)
        env = jinja_env(folder)
        self._templates = {name: env.get_template(path.name) for name, path in self._files().items()}

    def _cut(self, text: str) -> str:
        return text if len(text) <= self.max_text_chars else text[: self.max_text_chars] + " [...]"

    def build_requests(self, row: dict[str, Any], attempt: int) -> list[Request] | None:
        pair = instruction_and_response(row)
        if pair is None:
            return None
        instruction, response = (self._cut(t) for t in pair)
        guide = Guide(choice=[str(i) for i in range(1, self.scale + 1)]) if self.structured else None
        return [
            self.request(
                row,
                [{"role": "user", "content": self._templates[name].render(
                    instruction=instruction, response=response, scale=self.scale).strip()}],
                tag=name,
                guide=guide,
                logprobs=self.logprobs if self.asks_logprobs else None,
            )
            for name in self.asked
        ]  # fmt: skip

    def parse(self, row: dict[str, Any], responses: list[Response], attempt: int) -> dict[str, Any] | Retry:
        out: dict[str, Any] = {**row, "score_model": responses[0].model if responses else None}
        unread, methods = [], set()
        for name, response in zip(self.asked, responses, strict=True):
            text = response.texts[0] if response.texts else ""
            value = read_score(text, self.scale)
            if value is None:
                unread.append(f"{name}: {text.strip()[:80]!r}")
                continue
            expected = expected_score(response.logprobs[0] if response.logprobs else None, value, self.scale)
            out[name] = value if expected is None else expected
            methods.add("sampled" if expected is None else "logprobs")
        if unread:
            return Retry("unscorable", f"no 1-{self.scale} score read ({'; '.join(unread)})")
        out["score_method"] = methods.pop() if len(methods) == 1 else "mixed"
        self.figures.add("score_method", {out["score_method"]: 1})
        return out

    def report(self, figures: Figures) -> dict[str, Any]:
        """The base's report, rows per ``score_method``, and a warning when rows were scored from the sampled
        integer although logprobs were asked."""
        out = super().report(figures)
        methods = dict(sorted(figures.get("score_method", {}).items()))
        out["rows_per_score_method"] = methods
        fallback = sum(n for m, n in methods.items() if m != "logprobs")
        if self.asks_logprobs and fallback:
            out["warnings"].append(
                f"{self.stage_name}: {fallback:,} of {sum(methods.values()):,} rows scored (one or both scores) "
                "from the sampled integer, not DEITA's expected score: the backend returned no logprobs, or no "
                "score token was among the top ones"
            )
        return out
