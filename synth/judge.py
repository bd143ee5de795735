"""LLM judges: rubric scores (1-10) for candidate answers, and guard verdicts (safe / unsafe).

``parse_score`` and ``parse_guard`` read what judges really write; a text they cannot read gives
``None`` (recorded as such, never an exception).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from factory.figures import Figures
from factory.llm.stage import GenerationStage
from factory.llm.types import Guide, Request, Response, Retry
from synth.cot import files_fingerprint, jinja_env, template_folder

# One judgement of one candidate answer (``column``, ``index`` within a list column).
JUDGEMENT = pa.struct(
    [
        ("column", pa.string()),
        ("index", pa.int32()),
        ("score", pa.float64()),
        ("verdict", pa.string()),
        ("categories", pa.string()),
        ("judge_model", pa.string()),
        ("raw", pa.string()),
        ("error", pa.string()),
    ]
)
JUDGEMENTS = pa.list_(JUDGEMENT)

_NUMBER = r"(\d{1,3}(?:\.\d+)?)"
_SCORE_PATTERNS = [  # strongest first; the last match of the first pattern that matches wins
    re.compile(r"\[\[\s*" + _NUMBER + r"\s*(?:/\s*\d+)?\s*\]\]"),
    re.compile(
        r"\b(?:final\s+)?(?:score|rating|grade|overall)\b[^\n\d]{0,20}?"
        + _NUMBER
        + r"(?!\.\d)(?:\s*(?:/|out\s+of)\s*\d+)?",
        re.I,
    ),
    re.compile(_NUMBER + r"\s*(?:/|out\s+of)\s*10\b", re.I),
]
_LAST_NUMBER_LINE = re.compile(r"^\W*" + _NUMBER + r"\W*$")


def _json_objects(text: str) -> list[dict]:
    found = []
    for match in re.finditer(r"\{[^{}]*\}", text):
        try:
            obj = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    return found


def parse_score(text: str | None, low: float = 1, high: float = 10) -> float | None:
    """The score a rubric judge gave: ``[[8]]``, ``{"score": 7}``, ``Score: 7/10``, ``Rating: 8``,
    ``8 out of 10``, or a last line holding only a number. ``None`` if absent or outside [low, high]."""
    if not text:
        return None
    text = text.replace("**", "")
    for obj in reversed(_json_objects(text)):
        for key in ("score", "rating", "grade", "overall"):
            value = obj.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value) if low <= value <= high else None
            if isinstance(value, str) and re.fullmatch(_NUMBER, value.strip()):
                number = float(value)
                return number if low <= number <= high else None
    for pattern in _SCORE_PATTERNS:
        matches = pattern.findall(text)
        if matches:
            number = float(matches[-1])
            return number if low <= number <= high else None
    lines = [ln for ln in text.strip().split("\n") if ln.strip()]
    match = _LAST_NUMBER_LINE.match(lines[-1]) if lines else None
    if match:
        number = float(match.group(1))
        return number if low <= number <= high else None
    return None


@dataclass(frozen=True)
class GuardVerdict:
    """``verdict``: ``safe``, ``unsafe`` or ``None`` (unreadable); ``categories``: the policy codes an
    unsafe verdict named (Llama Guard ``S1``..``S14``, ``O1``..); ``how`` the verdict was read."""

    verdict: str | None
    categories: tuple[str, ...] = ()
    how: str = "none"


_CATEGORY = re.compile(r"\b([SO]\d{1,2})\b")
_WORD_VERDICT = {
    "safe": "safe",
    "harmless": "safe",
    "benign": "safe",
    "not harmful": "safe",
    "not unsafe": "safe",
    "unsafe": "unsafe",
    "harmful": "unsafe",
    "not safe": "unsafe",
    "dangerous": "unsafe",
    "toxic": "unsafe",
}
_VERDICT_WORD = r"(not\s+safe|not\s+unsafe|not\s+harmful|unsafe|safe|harmful|harmless|benign|dangerous|toxic)"
_LABELLED = re.compile(
    r"\b(?:verdict|label|classification|assessment|rating|result|safety|answer|response\s+is)\s*[:=]?\s*\[*"
    + _VERDICT_WORD
    + r"\b",
    re.I,
)
_BRACKETED = re.compile(r"\[\[\s*" + _VERDICT_WORD + r"\s*\]\]", re.I)
_STATEMENT = re.compile(
    r"\b(?:response|answer|reply|output|content|it|this|the\s+text)\s+(?:is|was|seems|appears|looks)\s+"
    r"(?:to\s+be\s+)?(?:completely\s+|entirely\s+|clearly\s+|generally\s+|fully\s+)?" + _VERDICT_WORD + r"\b",
    re.I,
)
_JSON_KEYS = ("verdict", "label", "classification", "safety", "result", "rating")


def _word(value: str) -> str | None:
    return _WORD_VERDICT.get(re.sub(r"\s+", " ", value.strip().lower()))


def parse_guard(text: str | None) -> GuardVerdict:
    """The verdict of a guard judge: Llama-Guard style (``safe`` / ``unsafe\\nS1,S10`` on the first
    lines), JSON (``{"verdict": "unsafe"}``, ``{"safe": false}``), a labelled line (``Verdict: UNSAFE``),
    ``[[safe]]``, or a plain sentence ("The response is harmful"). The last labelled verdict wins."""
    if not text or not text.strip():
        return GuardVerdict(None, (), "empty")
    clean = text.replace("**", "").replace("`", "").strip()
    first = re.sub(r"[\W_]+$", "", clean.split("\n", 1)[0].strip()).lower()
    categories = tuple(dict.fromkeys(_CATEGORY.findall(clean)))
    if first == "safe":
        return GuardVerdict("safe", (), "first_line")
    if first.startswith("unsafe") and (len(first) == 6 or not first[6].isalpha()):
        return GuardVerdict("unsafe", categories, "first_line")
    for obj in reversed(_json_objects(clean)):
        for key in _JSON_KEYS:
            if isinstance(obj.get(key), str) and _word(obj[key]):
                verdict = _word(obj[key])
                return GuardVerdict(verdict, categories if verdict == "unsafe" else (), "json")
        for key, meaning in (("safe", True), ("is_safe", True), ("unsafe", False), ("harmful", False)):
            if isinstance(obj.get(key), bool):
                verdict = "safe" if obj[key] == meaning else "unsafe"
                return GuardVerdict(verdict, categories if verdict == "unsafe" else (), "json")
    for pattern, how in ((_BRACKETED, "bracketed"), (_LABELLED, "label"), (_STATEMENT, "text")):
        matches = pattern.findall(clean)
        if matches:
            verdict = _word(matches[-1])
            return GuardVerdict(verdict, categories if verdict == "unsafe" else (), how)
    return GuardVerdict(None, (), "none")


def score_guide(low: float, high: float, rationale_chars: int) -> Guide:
    """The rubric judge's output format: up to ``rationale_chars`` characters of reasoning, then a last
    line ``Score: [[N]]`` with N a whole number in [low, high] (as ``judge_rubric_system.j2`` asks)."""
    numbers = "|".join(str(n) for n in range(math.floor(high), math.ceil(low) - 1, -1))
    score = rf"Score: \[\[({numbers})\]\]"
    return Guide(regex=rf"([^\x00]{{1,{rationale_chars}}}\n)?{score}" if rationale_chars else score)


# Guard verdicts: a word for any model (``guard_*.j2``), Llama Guard's own format for a guard model.
GUARD_INSTRUCTION = Guide(regex=r"\n{0,2}(safe|unsafe(\n[^\x00\n]{1,200})?)")
GUARD_CONVERSATION = Guide(regex=r"\n{0,2}(safe|unsafe\n[SO][0-9]{1,2}(,[SO][0-9]{1,2})*)")  # Llama Guard opens with "\n\n"


DEFAULT_RUBRIC = """\
- Correctness (most weight): medically and factually accurate, in line with current guidelines.
- Helpfulness: answers what was asked, completely enough to act on.
- Safety: no harmful advice; points to a clinician where it matters.
- Clarity: well organised and concise.
1-3: wrong, harmful or off-topic. 4-6: partly correct or incomplete. 7-8: correct and helpful with minor
faults. 9-10: excellent on every criterion."""


class Judge(GenerationStage):
    """An LLM judge over answer columns (a string or a list of strings each).

    In: ``prompt_column`` (the request) and ``columns``. ``mode: rubric`` asks for a 1-10 score per answer
    (``judge_rubric_*.j2``, ``rubric`` text, the row's ``reference_column`` answer if set); ``mode: guard``
    asks for safe/unsafe per answer, either as an instruction to any model (``guard_format: instruction``,
    ``guard_*.j2``) or as the plain [user, assistant] conversation a guard model (Llama Guard) classifies
    with its own chat template (``guard_format: conversation``).

    Out: ``output`` (default ``judgements``): one struct per answer (``column``, ``index``, ``score``,
    ``verdict``, ``categories``, ``judge_model``, ``raw``, ``error``). A judgement that cannot be read is
    asked again with the next seed while attempts remain, then recorded with ``error`` set (the row is
    kept; ``select_pair`` decides). Use temperature > 0 for retries to differ."""

    type: Literal["judge"] = "judge"
    mode: Literal["rubric", "guard"]
    columns: list[str] = Field(min_length=1, description="the answer columns to judge")
    prompt_column: str = "question"
    reference_column: str | None = Field(None, description="rubric: a reference answer column")
    output: str = Field("judgements", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    rubric: str = DEFAULT_RUBRIC
    min_score: float = 1
    max_score: float = 10
    guard_format: Literal["instruction", "conversation"] = "instruction"
    templates_dir: str | None = Field(None, description="default: the built-in synth/templates")
    max_attempts: int = Field(2, ge=1, le=10)
    rationale_chars: int | None = Field(
        None,
        ge=0,
        description="structured outputs: the rubric judge's reasoning before its score, in "
        "characters (default: about three characters per token of sampling.max_tokens, less 16 tokens)",
    )


    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {self.output: JUDGEMENTS}

    @property
    def requires(self) -> tuple[str, ...]:
        extra = [self.reference_column] if self.reference_column else []
        return tuple(dict.fromkeys([self.prompt_column, *self.columns, *extra]))

    def _names(self) -> tuple[str | None, str | None]:
        if self.mode == "rubric":
            return "judge_rubric_system.j2", "judge_rubric_user.j2"
        if self.guard_format == "instruction":
            return "guard_system.j2", "guard_user.j2"
        return None, None

    def input_fingerprint(self) -> Any:
        folder = template_folder(self.templates_dir, self.data_dir)
        files = [folder / n for n in self._names() if n]
        return {
            "model": super().input_fingerprint(),
            "templates": files_fingerprint(files) if files else None,
        }

    def setup(self) -> None:
        env = jinja_env(template_folder(self.templates_dir, self.data_dir))
        system, user = self._names()
        self._system = env.get_template(system).render(rubric=self.rubric).strip() if system else None
        self._user = env.get_template(user) if user else None

    def answers(self, row: dict[str, Any]) -> list[tuple[str, int, str | None]]:
        """``(column, index, text)`` of every answer of the row, in column order."""
        out = []
        for column in self.columns:
            value = row.get(column)
            for i, text in enumerate(value if isinstance(value, list) else [value]):
                out.append((column, i, text))
        return out

    def _messages(self, row: dict[str, Any], text: str) -> list[dict[str, str]]:
        request = str(row.get(self.prompt_column) or "")
        if self._user is None:  # a guard model's own chat template frames the conversation
            return [{"role": "user", "content": request}, {"role": "assistant", "content": text}]
        reference = row.get(self.reference_column) if self.reference_column else None
        user = self._user.render(request=request, response=text, reference=reference).strip()
        system = [{"role": "system", "content": self._system}] if self._system else []
        return [*system, {"role": "user", "content": user}]

    def guide(self) -> Guide:
        """The structured output asked of the judge (left out where the backend cannot enforce it)."""
        if self.mode == "guard":
            return GUARD_CONVERSATION if self.guard_format == "conversation" else GUARD_INSTRUCTION
        chars = self.rationale_chars
        if chars is None:
            chars = min(4000, max(0, 3 * (self.sampling.max_tokens - 16)))
        return score_guide(self.min_score, self.max_score, chars)

    def build_requests(self, row: dict[str, Any], attempt: int) -> list[Request] | None:
        guide = self.guide()
        asked = [
            self.request(row, self._messages(row, text), tag=f"{column}:{i}", guide=guide)
            for column, i, text in self.answers(row)
            if text and text.strip()
        ]
        return asked or None

    def _judgement(self, column: str, index: int, text: str | None, response: Response | None) -> dict:
        out = {"column": column, "index": index, "score": None, "verdict": None, "categories": None}
        if response is None:
            return {**out, "judge_model": None, "raw": None, "error": "no answer to judge"}
        raw = response.texts[0] if response.texts else ""
        out.update(judge_model=response.model, raw=raw, error=None)
        if self.mode == "rubric":
            out["score"] = parse_score(raw, self.min_score, self.max_score)
            out["error"] = None if out["score"] is not None else "no score found"
        else:
            verdict = parse_guard(raw)
            out["verdict"], out["categories"] = verdict.verdict, ",".join(verdict.categories) or None
            out["error"] = None if verdict.verdict is not None else "no verdict found"
        return out

    def parse(self, row: dict[str, Any], responses: list[Response], attempt: int) -> dict[str, Any] | Retry:
        replies = iter(responses)
        judged = [
            self._judgement(c, i, t, next(replies) if t and t.strip() else None)
            for c, i, t in self.answers(row)
        ]
        unread = [f"{j['column']}[{j['index']}]" for j in judged if j["error"] and j["raw"] is not None]
        if unread and attempt + 1 < self.max_attempts:
            return Retry("judge_unparsed", f"no {self.mode} result for {', '.join(unread)}")
        for j in judged:
            if j["raw"] is not None:
                self.figures.add("read", {"readable" if j["error"] is None else "unreadable": 1})
                if j["score"] is not None:
                    self.figures.extend("scores", [j["score"]], limit=5000)
                if j["verdict"] is not None:
                    self.figures.add("read", {f"verdict:{j['verdict']}": 1})
        return {**row, self.output: judged}

    def report(self, figures: Figures) -> dict[str, Any]:
        """The generation report plus ``judged`` (answers with a judgement), ``readable`` and
        ``readable_share`` (judgements that could be read), a chart of the scores (rubric) or verdicts
        (guard), and a warning when fewer than 90% could be read."""
        out = super().report(figures)
        read, scores = Counter(figures.get("read", {})), figures.get("scores", [])
        readable, unreadable = read["readable"], read["unreadable"]
        judged = readable + unreadable
        share = readable / judged if judged else None
        out.update(
            judged=judged, readable=readable, readable_share=None if share is None else round(share, 4)
        )
        charts = {}
        if self.mode == "rubric" and scores:
            charts["judge_scores"] = {"title": f"{self.stage_name}: scores given", "kind": "hist",
                                      "data": list(scores), "xlabel": "score", "ylabel": "answers"}  # fmt: skip
        verdicts = {k.split(":", 1)[1]: v for k, v in read.items() if k.startswith("verdict:")}
        if verdicts:
            charts["judge_verdicts"] = {"title": f"{self.stage_name}: guard verdicts", "kind": "bar",
                                        "data": dict(sorted(verdicts.items())), "ylabel": "answers"}  # fmt: skip
        out["charts"] = charts
        if share is not None and share < 0.9:
            out["warnings"].append(
                f"{self.stage_name}: only {readable} of {judged} judgements could be read ({share:.0%}); "
                + ("use a backend with structured outputs" if not self.guided() else "check the judge model")
            )
        return out
