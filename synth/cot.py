"""Verified medical Chain-of-Thought (the Aloe recipe): the ``cot`` stage.

The teacher gets a question, its options and the gold answer, and writes the reasoning a student needs to
reach it. A text counts as verified only when it passes every check of ``synth.verify`` (in order): it
was not cut by the token limit, concludes on the gold option, on one option, readably, without changing
its conclusion along the way (``allow_changed_answer``), does not say it was given the answer, names
the options as the row does, and says enough beyond the question and options (``min_reasoning_words``
distinct content words). Its own conclusion lines are cut, so ``to_chat`` adds the single canonical
answer line. With structured outputs the backend makes every text end with ``Final answer: <letter>``
(one of the row's letters), so a text can no longer stop without a readable conclusion.

The answer parser lives in ``factory.mcqa.answers`` (``parse_answer``), the checks in ``synth.verify``; both are
re-exported here.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field

from factory.figures import Figures
from factory.llm.stage import GenerationStage
from factory.llm.types import Guide, Request, Response, Retry
from factory.mcqa.answers import ParsedAnswer, parse_answer
from factory.mcqa.options import OPTION_LABELS, labelled
from synth.verify import letter_skew, option_mismatch, reasoning_words, strip_conclusion, verify_answer

__all__ = ["ChainOfThought", "ParsedAnswer", "parse_answer", "strip_conclusion", "verify_answer"]

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
    ``cot_fewshot.yaml``); a text that fails a check is retried with the next seed, up to ``max_attempts``,
    then the row is dropped with the reason of its last try: ``truncated``, ``answer_mismatch``,
    ``unparseable_answer``, ``ambiguous_answer``, ``changed_answer``, ``mentions_gold``, ``option_mismatch``,
    ``too_little_reasoning``.

    Out: ``explanation`` = the reasoning, ``cot_model``, ``cot_attempts``. The model's own conclusion lines
    are cut so ``to_chat`` renders user = question + options, assistant = reasoning + its one canonical
    "The answer is X. <text>"; with ``keep_conclusion: true`` the whole text is kept (then give ``to_chat``
    ``mcqa_assistant_template: "{{ explanation }}"``, or the answer appears twice).

    Report: the generation figures, plus ``answer_letters`` (gold letters of the rows asked and of the
    verified rows), ``verified_share_by_letter``, ``letter_skew`` (chi-square p-value and the largest gap),
    ``checks`` (why texts failed, every try) and a ``warnings`` entry when verification skews the letters."""

    type: Literal["cot"] = "cot"
    code_version: ClassVar[int] = 2  # 2: the answer parser reads more conclusion forms (issue 22, round 2)
    max_attempts: int = Field(3, ge=1, le=10)
    templates_dir: str | None = Field(None, description="default: the built-in synth/templates")
    system_template: str | None = "cot_system.j2"
    user_template: str = "cot_user.j2"
    fewshot_file: str | None = "cot_fewshot.yaml"
    fewshot: int = Field(2, ge=0, le=16, description="worked examples before the question")
    allow_changed_answer: bool = Field(
        False, description="accept a text that concluded on another option before its final answer"
    )
    reject_leaks: bool = Field(True, description="retry texts that say the answer was given")
    check_options: bool = Field(True, description="retry texts that give an option another option's letter")
    min_reasoning_words: int = Field(
        8, ge=0, description="distinct content words the explanation must add to the question and options"
    )
    keep_conclusion: bool = False
    answer_line: str = Field(
        "Final answer: ",
        min_length=1,
        description="structured outputs: the last line's prefix (as the templates ask)",
    )
    reasoning_chars: int | None = Field(
        None,
        ge=1,
        description="structured outputs: the most characters before the answer line (default: "
        "3 per token of sampling.max_tokens; a text that reaches it counts as truncated)",
    )
    reasoning_lines: int | None = Field(
        None,
        ge=1,
        le=50,
        description="structured outputs: at most this many lines of reasoning (no blank lines); the line "
        "break after the last one must start the answer line. A small model that rambles concludes when it "
        "would start a new paragraph, instead of at the character limit (None: free text)",
    )
    skew_p_value: float = Field(
        0.01, gt=0, lt=1, description="warn when the verified letters' p-value is below"
    )

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {"cot_model": pa.string(), "cot_attempts": pa.int32()}

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
        return self._user.render(
            question=row["question"],
            context=row.get("context"),
            options=labelled(row["options"]),
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
        if attempt == 0:
            self.figures.add("letters_input", {OPTION_LABELS[int(gold)]: 1})
        return [self.request(row, messages, tag="cot", guide=self.guide(len(row["options"])))]

    def _reasoning_chars(self) -> int:
        return self.reasoning_chars or 3 * self.sampling.max_tokens

    def guide(self, n_options: int) -> Guide:
        """Free reasoning of at most ``reasoning_chars`` characters, then ``answer_line`` and a letter."""
        letters = OPTION_LABELS[:n_options]
        line = re.sub(
            r"([.^$*+?{}\[\]\\|()])", r"\\\1", self.answer_line
        )  # regex-literal (spaces as they are)
        chars = self._reasoning_chars()
        if self.reasoning_lines is None:
            return Guide(regex=rf"[^\x00]{{1,{chars}}}\n{line}[{letters}]")
        reasoning = rf"(?:[^\x00\n]{{1,{chars}}}\n){{0,{self.reasoning_lines - 1}}}[^\x00\n]{{1,{chars}}}"
        return Guide(regex=rf"{reasoning}\n{line}[{letters}]")

    def check(self, row: dict[str, Any], text: str, finish: str = "stop") -> tuple[str, str] | str:
        """``explanation`` for a verified ``text``, else ``(reason, detail)``."""
        options = row["options"]
        if finish == "length" or self._hit_guide_limit(text):
            return "truncated", f"finish={finish}: the text was cut before its end"
        parsed = parse_answer(text, len(options), options)
        failure = verify_answer(parsed, int(row["answer_idx"]), self.allow_changed_answer)
        if failure is not None:
            return failure
        leak = _LEAK.search(text) if self.reject_leaks else None
        if leak:
            return "mentions_gold", f"says '{leak.group(0)}'"
        reasoning = strip_conclusion(text, len(options), options)
        mismatch = option_mismatch(reasoning, options) if self.check_options else None
        if mismatch:
            return "option_mismatch", mismatch
        words = reasoning_words(reasoning, row["question"], options, row.get("context"))
        if words < self.min_reasoning_words:
            return (
                "too_little_reasoning",
                f"{words} < {self.min_reasoning_words} words beyond the question and options",
            )
        return text.strip() if self.keep_conclusion else reasoning

    def _hit_guide_limit(self, text: str) -> bool:
        """A guided text whose reasoning used every character the guide allowed: the conclusion was forced."""
        if not self.guided():
            return False
        head, sep, _ = text.rpartition("\n" + self.answer_line)
        if not sep:
            return False
        if self.reasoning_lines is None:
            return len(head) >= self._reasoning_chars()
        return max(len(line) for line in head.split("\n")) >= self._reasoning_chars()

    def parse(self, row: dict[str, Any], responses: list[Response], attempt: int) -> dict[str, Any] | Retry:
        response = responses[0]
        failures = []
        for text, finish in zip(response.texts, response.finish_reasons, strict=False):
            result = self.check(row, text or "", finish)
            if isinstance(result, str):
                self.figures.add("letters_verified", {OPTION_LABELS[int(row["answer_idx"])]: 1})
                return {
                    **row,
                    "explanation": result,
                    "cot_model": response.model,
                    "cot_attempts": attempt + 1,
                }
            self.figures.add("checks", {result[0]: 1})
            failures.append(result)
        if not failures:
            return Retry("empty_response", "the backend returned no text")
        reason, detail = failures[0]
        return Retry(reason, detail)

    def report(self, figures: Figures) -> dict[str, Any]:
        out = super().report(figures)
        asked, verified = Counter(figures.get("letters_input", {})), Counter(figures.get("letters_verified", {}))
        letters = sorted(set(asked) | set(verified))
        out["answer_letters"] = {
            "input": dict(sorted(asked.items())),
            "verified": dict(sorted(verified.items())),
        }
        out["verified_share_by_letter"] = {k: round(verified[k] / asked[k], 4) for k in letters if asked[k]}
        out["checks"] = dict(sorted(figures.get("checks", {}).items()))
        skew = letter_skew(dict(asked), dict(verified))
        out["letter_skew"] = None
        if skew is not None:
            p_value, gap, letter = skew
            out["letter_skew"] = {
                "p_value": round(p_value, 6),
                "largest_gap": round(gap, 4),
                "letter": letter,
            }
            if p_value < self.skew_p_value:
                n_in, n_ok = sum(asked.values()), sum(verified.values())
                out["warnings"].append(
                    f"{self.stage_name}: verification skews the answer letters: {letter} is "
                    f"{verified[letter] / n_ok:.0%} of verified rows against {asked[letter] / n_in:.0%} of the "
                    f"input (chi-square p={p_value:.2g}); a model trained on them may favour {letter}"
                )
        if letters:
            out["charts"] = {
                "answer_letters": {
                    "title": f"{self.stage_name}: gold answer letters, input vs verified", "kind": "grouped_bar",
                    "data": {"input": {k: asked[k] for k in letters}, "verified": {k: verified[k] for k in letters}},
                    "xlabel": "gold letter", "ylabel": "rows",
                }
            }  # fmt: skip
        return out
