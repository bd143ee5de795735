"""Options of a multiple-choice question: their labels, their rendering as lines, reading them back, folding.

Labels: ``OPTION_LABELS`` (A, B, C... in order; a canonical row's ``options[i]`` is labelled
``OPTION_LABELS[i]``), ``option_label(i)`` and ``label_index("b") -> 1``.

Rendering, one form, "<label>. <text>" (``option_line``):

- ``option_lines(options)``: the lines, to join with other lines (decontamination, judge and deita prompts);
- ``render_options(options)``: "A. x\\nB. y"; with ``trailing_newline=True`` "A. x\\nB. y\\n" (what
  ``to_chat``'s default template and the eval prompts write);
- ``render_options_array(options)``: the latter over an Arrow list column (``to_chat``'s vectorised path);
- ``labelled(options)``: ``[("A", x), ("B", y)]`` for Jinja templates that write the same lines themselves
  (``to_chat``'s ``MCQA_USER``, ``synth/templates/cot_user.j2``).

Reading options back out of a text (each reader accepts exactly the forms its callers read before; they
differ on purpose, and parameters name the differences):

- ``split_rendered(text)``: exactly what ``render_options`` wrote, "A. x" lines closing the text;
- ``split_options(text)``: 3+ options in one run, on lines ("A. x", "b) y", "[C] z") or inline
  ("(A) x (B) y (C) z"), and the text without them (decontamination);
- ``listed_options(text)``: 2+ lettered lines in order ("A. x", "(B) y", "c) z") anywhere, a new "A"
  restarting the list (answer-format rewriting);
- ``strip_labels(choices)``: choices that carry their own "A. " prefixes, without them (source adapters);
- ``option_mentions(text)``: every option a reasoning text names ("B. Pneumonia: ...", "option C
  (sarcoidosis)"), for checking it against the row's options.

Folding: ``fold(text)``, the case- and punctuation-free form answer texts are compared in.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

OPTION_LABELS = string.ascii_uppercase
SEPARATOR = ". "  # between a label and its option's text

_FOLD = re.compile(r"[\W_]+")


def option_label(index: int) -> str:
    """The label of the 0-based option ``index``: 0 -> "A"."""
    return OPTION_LABELS[index]


def label_index(label: str) -> int:
    """The 0-based option a label names, either case: "B" or "b" -> 1."""
    return OPTION_LABELS.index(label.upper())


def fold(text: str) -> str:
    """Case- and punctuation-free form of a text, for comparing option and answer texts:
    casefold, every run of non-word characters (and ``_``) one space, stripped."""
    return _FOLD.sub(" ", text.casefold()).strip()


# -- rendering ----------------------------------------------------------------------------------------------
def option_line(index: int, text: str | None) -> str:
    """One option as a line: ``option_line(1, "Pneumonia") == "B. Pneumonia"`` (``None`` reads "None")."""
    return f"{OPTION_LABELS[index]}{SEPARATOR}{text}"


def option_lines(options: Sequence[str | None]) -> list[str]:
    """Every option as a line, labelled in order."""
    return [option_line(i, text) for i, text in enumerate(options)]


def render_options(options: Sequence[str | None], trailing_newline: bool = False) -> str:
    """The options as lines joined by newlines; ``trailing_newline``: each line ends with one (the last too)."""
    if trailing_newline:
        return "".join(f"{line}\n" for line in option_lines(options))
    return "\n".join(option_lines(options))


def labelled(options: Sequence[str | None]) -> list[tuple[str, str | None]]:
    """``(label, text)`` pairs, for templates that write the lines themselves."""
    return [(OPTION_LABELS[i], text) for i, text in enumerate(options)]


def render_options_array(options: pa.ListArray) -> pa.Array:
    """``render_options(o, trailing_newline=True)`` for each list ``o`` of an Arrow list array of strings, in
    Arrow compute (null texts read "None"). Every list must be non-null."""
    sizes = pc.list_value_length(options).to_numpy(zero_copy_only=False).astype(np.int64)
    position = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    labels = pa.array([option_label(i) for i in position.tolist()], pa.string())
    texts = pc.fill_null(options.flatten(), "None")
    lines = pc.binary_join_element_wise(
        labels, pa.array([SEPARATOR] * len(labels)), texts, pa.array(["\n"] * len(labels)), ""
    )
    return pc.binary_join(
        pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)), lines),
        "",
    )


# -- reading ------------------------------------------------------------------------------------------------
_RENDERED_LINE = re.compile(r"^([A-Z])\. (.*)$")
# Lenient option lines, a run of them: "A. x", "b) y", "[C] z", "(d) w" (text trimmed of spaces and tabs).
_RUN_LINE = re.compile(r"^[ \t]*[(\[]?([A-Ja-j])[.):\]][ \t]+(\S[^\n]*?)[ \t]*$", re.M)
_RUN_INLINE = re.compile(r"(?:^|\s)\(([A-Ja-j])\)\s*([^()\n]+?)(?=\s*\([A-Ja-j]\)|\n|$)")
# Option lines of a list: "A. text", "(B) text", "c) text", "D: text".
_LIST_LINE = re.compile(r"^\s*(?:\(\s*([A-Ja-j])\s*\)|([A-Ja-j])\s*[.):])\s+(\S.*)$", re.M)
_LABEL_PREFIX = re.compile(r"^\s*([A-Z])[.)]\s+")
# Options a reasoning text names: "B. Pneumonia: ...", "(B) Pneumonia - ...", "Option B: Pneumonia ...",
# "- B) ...", and inline "option B (pneumonia)", "option B, pneumonia,".
_MENTION_LINE = re.compile(
    r"^[ \t>*•\-]*(?:option\s+|choice\s+)?[\(\[]?(?P<letter>[A-Z])[\)\]]?\s*[.):\-–—]\s*(?P<text>\S[^\n]*)$",
    re.M | re.I,
)
_MENTION_INLINE = re.compile(r"\boption\s+(?P<letter>[A-Z])\s*(?:\(|,\s*)(?P<text>[^),\n]{2,80})", re.I)


def split_rendered(text: str) -> tuple[str, list[str]]:
    """``(text before the options, options)`` of a text that ends with ``render_options`` lines ("A. x",
    exactly: capital letter, ". ", from A in order, at least two); ``(text, [])`` when it does not. Lines
    such as "B. ..." above the "A." line belong to the text. The text is returned unstripped."""
    lines = text.rstrip().split("\n")
    found: list[tuple[str, str]] = []
    while lines and (m := _RENDERED_LINE.match(lines[-1])):
        found.insert(0, (m.group(1), m.group(2)))
        lines.pop()
    while found and found[0][0] != "A":  # "B. ..." lines inside the question are not options
        lines.append(SEPARATOR.join(found.pop(0)))
    if len(found) < 2 or [label for label, _ in found] != [option_label(i) for i in range(len(found))]:
        return text, []
    return "\n".join(lines), [t for _, t in found]


def split_options(text: str, min_options: int = 3) -> tuple[str, list[str]]:
    """A prompt holding a multiple-choice question -> (the text without its options, the options):
    ``min_options``+ options labelled A, B, C... in order, in one run (nothing but spaces between them), one
    per line (``A. x``, ``b) y``, ``[C] z``) or inline (``(A) x (B) y (C) z``). Anything else: (text, [])."""
    patterns = [_RUN_LINE] if "\n" in text else []
    if "(B)" in text or "(b)" in text:
        patterns.append(_RUN_INLINE)
    for pattern in patterns:
        run: list[re.Match] = []
        for m in pattern.finditer(text):
            if m.group(1).lower() == chr(97 + len(run)) and (
                not run or not text[run[-1].end() : m.start()].strip()
            ):
                run.append(m)
            elif len(run) >= min_options:
                break
            else:
                run = [m] if m.group(1).lower() == "a" else []
        if len(run) >= min_options:
            stem = text[: run[0].start()] + text[run[-1].end() :]
            return stem, [m.group(2) for m in run]
    return text, []


def listed_options(text: str | None, min_options: int = 2) -> list[str]:
    """The lettered options listed in a text (A, B, C... in order, other lines between them allowed; a line
    labelled A starts a new list), stripped, when there are at least ``min_options``; else ``[]``."""
    found: list[str] = []
    for m in _LIST_LINE.finditer(text or ""):
        index = label_index(m.group(1) or m.group(2))
        if index == len(found):
            found.append(m.group(3).strip())
        elif found and index == 0:
            found = [m.group(3).strip()]  # a new list starts
    return found if len(found) >= min_options else []


def strip_labels(choices: list[str]) -> list[str]:
    """``choices`` without their "A. " / "B) " prefixes when every one carries its own label, in order
    (capital letters); else ``choices`` unchanged."""
    found = [_LABEL_PREFIX.match(c) for c in choices]
    if all(m and m.group(1) == OPTION_LABELS[i] for i, m in enumerate(found)):
        return [c[m.end() :] for c, m in zip(choices, found, strict=True)]  # type: ignore[union-attr]
    return choices


def option_mentions(text: str) -> list[tuple[str, str]]:
    """``(label, text)`` of every option ``text`` names (label upper-cased): first the lines that start with
    one ("B. Pneumonia: fits", "Option C: ..."), then inline mentions ("option B (pneumonia)"). Remove
    markdown emphasis first ("**B)**"): ``factory.mcqa.answers.normalise``."""
    found = [(m.group("letter").upper(), m.group("text")) for m in _MENTION_LINE.finditer(text)]
    return found + [(m.group("letter").upper(), m.group("text")) for m in _MENTION_INLINE.finditer(text)]
