"""Answer-format normalisation (Aloe: multiple-choice answers arrive in over a thousand formats and are
normalised to one, ``Answer: X``).

Sources state the chosen option in many ways: "Ans. is 'b' i.e., Pneumonia", "Ans: B", "Answer- (c)",
"(C) Aspirin", "C) Aspirin", "Correct option: 2", "The correct answer is D.", "So the answer is D",
"Option B is correct"... ``find_statement`` reads such a statement on the first or the last line of a
text and returns the option it names and where it sits. It is strict on purpose: a bare letter counts only
when quoted, bracketed, closed by punctuation or followed by that option's own text, so "Answer: a
combination of drugs" is no statement. A number is a 1-based option ("Correct option: 2" -> B) unless an
option's text is that number.

This is not ``synth.cot.parse_answer``: that one reads where a model's free reasoning *concludes*; this
one reads the fixed statement a dataset puts at the head or foot of an answer, to cut or rewrite it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from factory.mcqa.options import OPTION_LABELS, fold, label_index, listed_options
from factory.stage import Stage, drop

_Q = "['\"‘’“”`]"
_LABEL = rf"(?:\(\s*(?P<p>[A-Ja-j]|10|[1-9])\s*\)|\[\s*(?P<k>[A-Ja-j]|10|[1-9])\s*\]|{_Q}(?P<q>[A-Ja-j]|10|[1-9]){_Q}|(?P<b>[A-Ja-j]|10|[1-9]))"
# "Ans. is 'b'", "Answer: B", "The correct answer is (C)", "Correct option - 2", "so the answer is D".
_STATED = re.compile(
    r"[\W_]*?(?:(?:so|thus|therefore|hence),?\s+)?(?:the\s+)?"
    r"(?P<cue>(?:correct|right|best)\s+(?:ans(?:wer)?|option|choice|opt)|ans(?:wer)?)\b\.?"
    r"\s*(?:is\b|[:=\-–—]|should\s+be\b|would\s+be\b)?\s*(?:[:\-–—]\s*)?(?:option\s+|choice\s+|opt\.?\s+)?"
    + _LABEL,
    re.I,
)
# "Answer: Pneumonia": the cue, then exactly one option's text.
_CUE_ONLY = re.compile(
    r"[\W_]*?(?:(?:so|thus|therefore|hence),?\s+)?(?:the\s+)?(?:(?:correct|right|best)\s+)?ans(?:wer)?\b\.?"
    r"\s*(?:is\b|[:=\-–—])\s*",
    re.I,
)
# "Option B is correct", "B is the correct answer".
_REVERSED = re.compile(
    r"[\W_]*?(?:(?:option|choice)\s+)?"
    + _LABEL
    + r"\s+is\s+(?:the\s+)?(?:correct|right|best)\b(?:\s+(?:answer|option|choice))?",
    re.I,
)
# "(C) Aspirin", "C) Aspirin", "c. Aspirin": the label first (must be followed by the option's text).
_LABEL_FIRST = re.compile(r"[\W_]*?(?:\(\s*(?P<p>[A-Ja-j])\s*\)|(?P<b>[A-Ja-j])\s*[.)])", re.I)
_LINK = re.compile(r"\s*(?:[.:,;)\-–—]\s*)*(?:i\.?\s?e\.?|viz\.?|namely)?\s*[,:\-–—]?\s*")
_END = re.compile(r"\s*[.!;,]*\s*(?:\n|$)")


@dataclass(frozen=True)
class Statement:
    """An answer statement found in a text: the 0-based ``index`` it names, its span, the ``family`` of
    format (``answer_is``, ``correct_option``, ``option_is_correct``, ``label_first``, ``answer_text``) and
    the raw label (the folded option text for ``answer_text``)."""

    index: int
    start: int
    end: int
    family: str
    label: str


def _index(label: str, options: list[str]) -> int | None:
    if label.isdigit():
        same = [i for i, o in enumerate(options) if fold(o or "") == label]
        index = same[0] if same else int(label) - 1
    else:
        index = label_index(label)
    return index if 0 <= index < len(options) else None


def _tail(text: str, pos: int, options: list[str], index: int, loose: bool) -> int | None:
    """Where the statement ends: after the option's own text if it follows, else at the end of the line when
    nothing but punctuation follows; ``None`` when other words follow a bare label (not a statement)."""
    after = _LINK.match(text, pos).end()
    option = fold(options[index] or "")
    line_end = text.find("\n", after)
    line = text[after : line_end if line_end >= 0 else len(text)]
    if option and (fold(line) == option or fold(line).startswith(option + " ")):
        words = len(option.split())
        for m in re.finditer(r"[\w]+", line):  # end after the option's last word
            words -= 1
            if words == 0:
                end = after + m.end()
                return _END.match(text, end).end() if _END.match(text, end) else end
    end = _END.match(text, pos)
    if end is not None:
        return end.end()
    return pos if loose else None


def _at(text: str, line_start: int, options: list[str]) -> Statement | None:
    for pattern, family in ((_STATED, None), (_REVERSED, "option_is_correct"), (_LABEL_FIRST, "label_first")):
        m = pattern.match(text, line_start)
        if m is None:
            continue
        groups = {k: v for k, v in m.groupdict().items() if k in ("p", "k", "q", "b") and v}
        if not groups:
            continue
        label = next(iter(groups.values()))
        if family == "label_first" and not label.isalpha():
            continue
        index = _index(label, options)
        if index is None:
            continue
        loose = "b" not in groups and family != "label_first"  # a quoted/bracketed label stands alone
        if family == "option_is_correct":
            end = _END.match(text, m.end())
            if end is None:  # "A is correct only if...": a remark, not the statement
                continue
            end_pos = end.end()
        else:
            end_pos = _tail(text, m.end(), options, index, loose)
            if end_pos is None or (
                family == "label_first" and end_pos == m.end() and text[m.end() :].strip()
            ):
                continue
        if family is None:
            family = (
                "correct_option"
                if m.group("cue").lower().split()[0] in ("correct", "right", "best")
                else "answer_is"
            )
        return Statement(index, m.start(), end_pos, family, label)
    return None


# Where a closing statement may start inside the last line: after a sentence end.
_SENTENCE_START = re.compile(r"(?<=[.!?:])\s+(?=\S)")


def _by_text(text: str, line_start: int, options: list[str]) -> Statement | None:
    m = _CUE_ONLY.match(text, line_start)
    if m is None:
        return None
    line_end = text.find("\n", m.end())
    line = text[m.end() : line_end if line_end >= 0 else len(text)]
    said = fold(line)
    same = [i for i, o in enumerate(options) if said and fold(o or "") == said]
    if len(same) != 1:
        return None
    return Statement(
        same[0], m.start(), _END.match(text, m.end() + len(line.rstrip())).end(), "answer_text", said
    )


def find_statement(text: str | None, options: list[str]) -> Statement | None:
    """The answer statement at the head of ``text`` (its first line), else the one that closes it (the last
    sentence of its last line, ending the text); ``None`` when neither is one (see the module doc)."""
    if not text or not options:
        return None
    first = _at(text, 0, options) or _by_text(text, 0, options)
    if first is not None:
        return first
    stripped = text.rstrip()
    last_line = stripped.rfind("\n") + 1
    starts = [last_line] if last_line else []
    starts += [m.end() for m in _SENTENCE_START.finditer(stripped, last_line)]
    for start in reversed(starts[-3:]):  # the closing sentence is among the last few
        st = _at(text, start, options) or _by_text(text, start, options)
        if st is not None and not text[st.end :].strip():
            return st
    return None


class AnswerFormat(Stage):
    """One answer form for multiple-choice answers. In: ``mcqa`` rows (their ``explanation``), ``qa`` rows
    (their ``answer``) and ``chat`` rows (the last assistant turn) whose question lists lettered options.

    - ``mcqa``: a statement at the head or foot of the explanation ("Ans. is 'b' i.e., Pneumonia") is cut,
      since ``to_chat`` renders the one answer line (set its ``mcqa_assistant_template`` to end with
      ``Answer: {{ label }}``); an explanation left empty becomes null.
    - ``qa`` / ``chat``: the statement is rewritten in place to ``form`` ("Answer: C").
    - A statement naming another option than the gold one (``mcqa``) is a conflict: the row is dropped
      (``answer_conflict``) or, with ``on_conflict: keep``, kept with its statement cut.

    Out: ``answer_format``: the family of statement found (``answer_is``, ``correct_option``,
    ``option_is_correct``, ``label_first``, ``answer_text``), or null when the row had none."""

    type: Literal["answer_format"] = "answer_format"
    form: str = Field(
        "Answer: {label}", description="the one form; {label} (A, B...) and {text} (option text)"
    )
    on_conflict: Literal["drop", "keep"] = "drop"

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {"answer_format": pa.string()}

    @field_validator("form")
    @classmethod
    def _has_label(cls, value: str) -> str:
        if "{label}" not in value:
            raise ValueError("`form` must contain {label}")
        try:
            value.format(label="A", text="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"`form` may use only {{label}} and {{text}} ({exc!r})") from None
        return value

    def _rewrite(self, text: str, st: Statement, options: list[str]) -> str:
        canon = self.form.format(label=OPTION_LABELS[st.index], text=options[st.index])
        tail = text[st.end :]
        sep = "\n" if tail.strip() and text[st.end - 1 : st.end] == "\n" else (" " if tail.strip() else "")
        return (text[: st.start] + canon + sep + tail.lstrip(" ")).strip()

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        kind = row["kind"]
        if kind == "mcqa":
            options = row["options"] or []
            st = find_statement(row.get("explanation"), options)
            if st is None:
                return {**row, "answer_format": None}
            text = row["explanation"]
            rest = (text[: st.start] + text[st.end :]).strip() or None
            out = {**row, "explanation": rest, "answer_format": st.family}
            gold = row.get("answer_idx")
            if gold is not None and st.index != gold and self.on_conflict == "drop":
                detail = f"explanation says {OPTION_LABELS[st.index]} ({st.family}: {text[st.start : st.end].strip()[:60]!r}); gold {OPTION_LABELS[gold]}"
                return drop(out, "answer_conflict", detail)
            return out
        if kind == "qa":
            options = listed_options(row.get("question"))
            st = find_statement(row.get("answer"), options)
            if st is None:
                return {**row, "answer_format": None}
            return {**row, "answer": self._rewrite(row["answer"], st, options), "answer_format": st.family}
        if kind == "chat":
            messages = list(row.get("messages") or [])
            last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
            user = max((i for i, m in enumerate(messages[: last or 0]) if m["role"] == "user"), default=None)
            if last is None or user is None:
                return {**row, "answer_format": None}
            options = listed_options(messages[user]["content"])
            st = find_statement(messages[last]["content"], options)
            if st is None:
                return {**row, "answer_format": None}
            messages[last] = {
                **messages[last],
                "content": self._rewrite(messages[last]["content"], st, options),
            }
            return {**row, "messages": messages, "answer_format": st.family}
        return {**row, "answer_format": None}
