"""Verified medical Chain-of-Thought (the Aloe recipe): answer parsing and verification.

``parse_answer(text, n_options, options)`` finds the option a model's answer concludes on, the way models
really write it ("Answer: B", "the correct option is (b) ...", "**B**", "B) Pneumonia" on the last line,
the option's text instead of its letter, ``\\boxed{B}``...). The last conclusion wins; a conclusion naming
two options ("B or C") is ambiguous and names none; a text that concluded on different options along the
way is flagged ``changed``. ``verify_answer`` compares it with the gold index and says why it failed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field

from factory.rows import OPTION_LABELS
from synth.generation import GenerationStage, Request, Response, Retry

# Conclusion cues, strongest first. Tier 1: an explicit final answer; tier 2: "the (correct) answer is".
_FINAL_CUE = re.compile(
    r"\bfinal\s+(?:answer|choice|response)\b|^[ \t>#*_-]*(?:answer|respuesta)\s*:", re.I | re.M
)
_ANSWER_CUE = re.compile(
    r"\b(?:(?:correct|best|right|true|most\s+(?:likely|appropriate|accurate|correct)|single\s+best)\s+"
    r"(?:answer|option|choice|response|statement)(?:\s+(?:here|to\s+this\s+question))?"
    r"|(?<!final\s)answer(?:\s+(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\b|\s*[:=])"
    r"|i\s+(?:would\s+|will\s+)?(?:choose|select|pick|go\s+with))",
    re.I,
)
# What may sit between a cue and the letter: "is", ":", "therefore", "option", markdown...
_LINK = re.compile(
    r"(?:\s|[:=\-–—>*#]|\b(?:is|are|would|should|must|will|be|then|therefore|thus|here|clearly|"
    r"option|choice|letter)\b)*",
    re.I,
)
# A letter right after a cue: "(b)", "[B]", "B" not followed by a letter, "b" closed by punctuation.
_LETTER_AT = re.compile(
    r"[\(\[]\s*(?P<b>[A-Za-z])\s*[\)\]]|(?P<u>[A-Z])(?![A-Za-z0-9'])|(?P<l>[a-z])(?=\s*(?:[).:,;]|$))", re.M
)
# Another option named right after the first one: "B or C", "A, B", "A and D".
_ALTERNATIVE = re.compile(
    r"\s*(?:,|/|&|\bor\b|\band\b)\s*(?:option\s+|choice\s+)?(?:[\(\[]\s*[A-Za-z]\s*[\)\]]|[A-Z](?![A-Za-z0-9']))"
)
# Tier 3: "B is correct", "Option (C) is the best answer", "B: Correct".
_REVERSE = re.compile(
    r"(?:\b(?i:option|choice)\s+)?[\(\[]?\b(?P<u>[A-Z])[\)\]]?(?:[.)]\s*[^\n]{0,80}?)?"
    r"(?:\s+(?i:is)\s+(?:(?i:the)\s+)?|\s*[:\-–—]\s*)(?i:correct|right|best|most\s+appropriate|most\s+likely|answer)\b"
    r"(?!\s+(?i:in|if|only|but|that|to)\b)",
)
# Tier 4: a last line that is only a letter (with its option text): "**B**", "B.", "(B)", "B) Pneumonia".
_LAST_LINE = re.compile(
    r"^[\W_]*?(?:option\s+|choice\s+)?[\(\[]?(?P<u>[A-Za-z])[\)\]]?(?:\s*(?:[.):\-–—])\s*.*)?[\W_]*$", re.I
)
_NONE_OF = re.compile(r"^(?:none\s+of\s+(?:the\s+)?(?:above|these|them|options|choices))\b", re.I)
_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text\s*\{)?\s*([^{}]*?)\s*\}?\s*\}")
_MARKDOWN = re.compile(r"\*\*|__|`|\$")
_NORM = re.compile(r"[\W_]+", re.UNICODE)


@dataclass(frozen=True)
class ParsedAnswer:
    """The option a text concludes on.

    ``index``: 0-based option, ``None`` when none could be read. ``how``: ``final`` (explicit final answer),
    ``answer`` ("the correct answer is"), ``reverse`` ("B is correct"), ``last_line`` (a bare letter on
    the last line), ``ambiguous`` (the conclusion names several options), ``none_of_the_above`` (it
    rejects every option), ``none``. ``line``: the line (0-based) of the conclusion. ``conclusions``:
    every option the text concluded on, in order; ``changed`` when they differ."""

    index: int | None
    how: str
    line: int | None = None
    conclusions: tuple[int, ...] = field(default_factory=tuple)
    detail: str | None = None

    @property
    def changed(self) -> bool:
        return len(set(self.conclusions)) > 1

    @property
    def label(self) -> str | None:
        return None if self.index is None else OPTION_LABELS[self.index]


@dataclass(frozen=True)
class _Hit:
    tier: int
    pos: int
    index: int | None
    how: str
    detail: str | None = None


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _BOXED.sub(lambda m: f"final answer: {m.group(1)}", text)
    return _MARKDOWN.sub("", text)


def _fold(text: str) -> str:
    return _NORM.sub(" ", text.casefold()).strip()


def _option_by_text(rest: str, options: list[str] | None) -> int | None:
    """The option whose text the conclusion starts with (the longest one when several do)."""
    said = _fold(rest)
    best, best_len = None, 0
    for i, option in enumerate(options or []):
        folded = _fold(option or "")
        if folded and (said == folded or said.startswith(folded + " ")) and len(folded) > best_len:
            best, best_len = i, len(folded)
    return best


def _after_cue(text: str, end: int, tier: int, n_options: int, options: list[str] | None) -> _Hit | None:
    pos = _LINK.match(text, end).end()
    letter = _LETTER_AT.match(text, pos)
    if letter:
        label = (letter.group("b") or letter.group("u") or letter.group("l")).upper()
        index = OPTION_LABELS.index(label)
        if index < n_options:
            alternative = _ALTERNATIVE.match(text, letter.end())
            if alternative:
                return _Hit(tier, pos, None, "ambiguous", text[pos : alternative.end()].strip())
            return _Hit(tier, pos, index, "final" if tier == 1 else "answer")
    line_end = text.find("\n", pos)
    rest = text[pos : line_end if line_end >= 0 else len(text)]
    index = _option_by_text(rest, options)
    if index is not None:
        return _Hit(tier, pos, index, "final" if tier == 1 else "answer")
    if _NONE_OF.match(_fold(rest)):
        return _Hit(tier, pos, None, "none_of_the_above", rest.strip()[:80])
    return None


def parse_answer(text: str | None, n_options: int, options: list[str] | None = None) -> ParsedAnswer:
    """The option ``text`` concludes on, among ``n_options`` labelled A, B, C... (see ``ParsedAnswer``).

    ``options``: the option texts, to read an answer given as text ("The answer is pneumonia")."""
    if not text or not text.strip() or n_options < 1:
        return ParsedAnswer(None, "none", detail="empty answer")
    text = _normalise(text)
    hits: list[_Hit] = []
    for tier, cue in ((1, _FINAL_CUE), (2, _ANSWER_CUE)):
        for match in cue.finditer(text):
            hit = _after_cue(text, match.end(), tier, n_options, options)
            if hit is not None:
                hits.append(hit)
    for match in _REVERSE.finditer(text):
        index = OPTION_LABELS.index(match.group("u"))
        if index < n_options:
            hits.append(_Hit(3, match.start(), index, "reverse"))
    lines = [(i, ln) for i, ln in enumerate(text.split("\n")) if ln.strip()]
    if not hits and lines:
        number, last = lines[-1]
        match = _LAST_LINE.match(last.strip())
        if match and OPTION_LABELS.index(match.group("u").upper()) < n_options:
            start = len("\n".join(text.split("\n")[:number])) + 1 if number else 0
            hits.append(_Hit(4, start, OPTION_LABELS.index(match.group("u").upper()), "last_line"))
    if not hits:
        return ParsedAnswer(None, "none", detail="no conclusion found")
    best_tier = min(h.tier for h in hits)
    final = max((h for h in hits if h.tier == best_tier), key=lambda h: h.pos)
    conclusions = tuple(
        h.index for h in sorted(hits, key=lambda h: h.pos) if h.tier <= 2 and h.index is not None
    )
    return ParsedAnswer(
        final.index, final.how, text.count("\n", 0, final.pos), conclusions or (), final.detail
    )


def verify_answer(parsed: ParsedAnswer, gold: int, allow_changed: bool = True) -> tuple[str, str] | None:
    """``None`` when ``parsed`` is the gold option, else ``(reason, detail)``: ``ambiguous_answer``,
    ``unparseable_answer``, ``answer_mismatch`` or (with ``allow_changed=False``) ``changed_answer``."""
    gold_label = OPTION_LABELS[gold]
    if parsed.how == "ambiguous":
        return "ambiguous_answer", f"concludes on '{parsed.detail}'; gold {gold_label}"
    if parsed.index is None:
        return "unparseable_answer", f"{parsed.how}: {parsed.detail}"
    if parsed.index != gold:
        return "answer_mismatch", f"answered {parsed.label} ({parsed.how}); gold {gold_label}"
    if not allow_changed and parsed.changed:
        seen = ",".join(OPTION_LABELS[i] for i in parsed.conclusions)
        return "changed_answer", f"concluded on {seen}; gold {gold_label}"
    return None


def strip_conclusion(text: str, parsed: ParsedAnswer) -> str:
    """The reasoning without its closing answer line, when the answer sits on the text's last line(s)
    (so ``to_chat`` can append one canonical "The answer is B. <text>"); else ``text`` unchanged."""
    lines = text.rstrip().split("\n")
    if parsed.line is None or parsed.line != len(lines) - 1:
        return text.strip()
    limit = {"final": 160, "last_line": 160, "answer": 80}.get(parsed.how, 0)
    if len(lines[parsed.line]) > limit:  # a long closing line carries reasoning: keep it
        return text.strip()
    kept = lines[: parsed.line]
    while kept and (not kept[-1].strip() or _FINAL_CUE.search(_normalise(kept[-1])) and len(kept[-1]) < 40):
        kept.pop()  # a "### Final answer" heading left above the letter
    return "\n".join(kept).strip() or text.strip()


# -- the stage ------------------------------------------------------------------------------------------
TEMPLATES = Path(__file__).parent / "templates"
_LEAK = re.compile(
    r"\b(?:(?:the\s+)?(?:given|provided|supplied|stated)\s+(?:correct\s+)?answer|"
    r"(?:we\s+are|i\s+was|i\s+am|we\s+were)\s+told\s+(?:that\s+)?the\s+(?:correct\s+)?answer|"
    r"as\s+(?:indicated|stated)\s+in\s+the\s+prompt)\b",
    re.I,
)


def template_folder(setting: str | None, data_dir: Path) -> Path:
    """The folder of a task's templates: the built-in ``synth/templates`` or ``setting`` (relative paths
    resolve against the recipe's data dir)."""
    if setting is None:
        return TEMPLATES
    path = Path(setting)
    return path if path.is_absolute() else data_dir / path


def files_fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\x00" + path.read_bytes() + b"\x00")
    return digest.hexdigest()


def jinja_env(folder: Path):
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


class ChainOfThought(GenerationStage):
    """Verified medical CoT. In: ``mcqa`` rows (other kinds pass untouched). The teacher gets the question,
    options and gold answer (``cot_system.j2`` / ``cot_user.j2`` with ``fewshot`` worked examples from
    ``cot_fewshot.yaml``) and must end with a parseable answer; a wrong, ambiguous or unparseable answer
    (or one that says it was given the answer) is retried with the next seed, up to ``max_attempts``, then
    the row is dropped with the reason (``answer_mismatch``, ``unparseable_answer``, ``ambiguous_answer``,
    ``mentions_gold``, ``too_short``).

    Out: ``explanation`` = the reasoning, ``cot_model``, ``cot_attempts``. The closing "Final answer: X" line
    is cut (``keep_conclusion: false``) so ``to_chat`` renders user = question + options, assistant =
    reasoning + its one canonical "The answer is X. <text>"; with ``keep_conclusion: true`` keep the whole
    text and give ``to_chat`` ``mcqa_assistant_template: "{{ explanation }}"``."""

    type: Literal["cot"] = "cot"
    max_attempts: int = Field(3, ge=1, le=10)
    templates_dir: str | None = Field(None, description="default: the built-in synth/templates")
    system_template: str | None = "cot_system.j2"
    user_template: str = "cot_user.j2"
    fewshot_file: str | None = "cot_fewshot.yaml"
    fewshot: int = Field(2, ge=0, le=16, description="worked examples before the question")
    allow_changed_answer: bool = Field(
        True, description="accept a text that concluded on another option before its final answer"
    )
    reject_leaks: bool = Field(True, description="retry texts that say the answer was given")
    keep_conclusion: bool = False
    min_explanation_chars: int = Field(40, ge=0)

    adds: ClassVar[dict[str, pa.DataType]] = {"cot_model": pa.string(), "cot_attempts": pa.int32()}

    def _files(self) -> list[Path]:
        folder = template_folder(self.templates_dir, self.data_dir)
        names = [self.system_template, self.user_template, self.fewshot_file if self.fewshot else None]
        return [folder / n for n in names if n]

    def input_fingerprint(self) -> Any:
        return {"model": super().input_fingerprint(), "templates": files_fingerprint(self._files())}

    def setup(self) -> None:
        import yaml

        folder = template_folder(self.templates_dir, self.data_dir)
        env = jinja_env(folder)
        self._system = env.get_template(self.system_template) if self.system_template else None
        self._user = env.get_template(self.user_template)
        examples = []
        if self.fewshot and self.fewshot_file:
            examples = yaml.safe_load((folder / self.fewshot_file).read_text(encoding="utf-8"))[
                : self.fewshot
            ]
        self._shots: list[dict[str, str]] = []
        for ex in examples:
            self._shots.append({"role": "user", "content": self._render_user({**ex, "explanation": None})})
            self._shots.append({"role": "assistant", "content": ex["explanation"].strip()})

    def _render_user(self, row: dict[str, Any]) -> str:
        options = [(OPTION_LABELS[i], text) for i, text in enumerate(row["options"])]
        return self._user.render(
            question=row["question"],
            context=row.get("context"),
            options=options,
            answer_label=OPTION_LABELS[row["answer_idx"]],
            answer_text=row["options"][row["answer_idx"]],
            explanation=row.get("explanation"),
            subject=row.get("subject"),
        ).strip()

    def build_requests(self, row: dict[str, Any], attempt: int) -> list[Request] | None:
        gold = row.get("answer_idx")
        if row.get("kind") != "mcqa" or not row.get("options") or gold is None:
            return None
        if not 0 <= int(gold) < len(row["options"]):  # canonical rows never have this; pass it untouched
            return None
        system = [{"role": "system", "content": self._system.render().strip()}] if self._system else []
        messages = [*system, *self._shots, {"role": "user", "content": self._render_user(row)}]
        return [self.request(row, messages, tag="cot")]

    def check(self, row: dict[str, Any], text: str) -> tuple[str, str] | str:
        """``explanation`` for a verified ``text``, else ``(reason, detail)``."""
        parsed = parse_answer(text, len(row["options"]), row["options"])
        failure = verify_answer(parsed, int(row["answer_idx"]), self.allow_changed_answer)
        if failure is not None:
            return failure
        leak = _LEAK.search(text) if self.reject_leaks else None
        if leak:
            return "mentions_gold", f"says '{leak.group(0)}'"
        explanation = text.strip() if self.keep_conclusion else strip_conclusion(text, parsed)
        if len(explanation) < self.min_explanation_chars:
            return "too_short", f"{len(explanation)} < {self.min_explanation_chars} chars of reasoning"
        return explanation

    def parse(self, row: dict[str, Any], responses: list[Response], attempt: int) -> dict[str, Any] | Retry:
        response = responses[0]
        failures = []
        for text, finish in zip(response.texts, response.finish_reasons, strict=False):
            result = self.check(row, text or "")
            if isinstance(result, str):
                return {
                    **row,
                    "explanation": result,
                    "cot_model": response.model,
                    "cot_attempts": attempt + 1,
                }
            reason, detail = result
            failures.append((reason, f"{detail}; finish={finish}" if finish == "length" else detail))
        if not failures:
            return Retry("empty_response", "the backend returned no text")
        reason, detail = failures[0]
        return Retry(reason, detail)
