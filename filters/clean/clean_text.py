"""``normalize``'s text cleaning over a whole Arrow column at once, byte-identical to the one-string reference
``clean_text`` (tests/reference_impls.py).

One RE2 pass finds the strings that cleaning can change at all (any character outside printable ASCII and
``\\n``, two spaces, a space beside a newline or at an end, three newlines, ``://``, ``www.``, ``@``, empty
brackets, a space before punctuation, a boilerplate phrase); the others are returned as they are (most text).
The rest go through the same steps as ``clean_text``, each one vectorised (Arrow compute, polars' Rust regex),
with character classes spelled out from Python's definitions (``factory.textnorm``). Two steps keep
Python's own code on the (rare) strings they concern, where no RE2 spelling is exact:

- e-mail removal (``\\b`` is Unicode-wide in Python, ASCII in RE2): strings holding ``@``;
- boilerplate sentence removal: strings where a boilerplate phrase matches (or holding a character that
  Python's case-insensitive matching folds onto ASCII, such as the dotless ``ı``). A user pattern that RE2
  cannot run the same way (``\\b``, ``\\w``, ``$``, look-arounds...) makes the check Python's, on every string.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from factory.textnorm import (
    WHITESPACE,
    by_python,
    contains,
    fallback_chars,
    re2_class,
    replace_all,
    replace_rows,
)

ODD = (
    r"[\x{0}-\x{8}\x{b}\x{c}\x{e}-\x{1f}\x{7f}-\x{9f}\x{200b}-\x{200f}\x{202a}-\x{202e}\x{2060}-\x{2064}"
    r"\x{feff}\x{fffd}\x{e000}-\x{f8ff}]"
)
_WS = re2_class(WHITESPACE)
_WS_NOT_NL = re2_class(WHITESPACE.replace("\n", ""))
_URL_END = re2_class(WHITESPACE + "<>()\"'.,;:!?", negate=True)
URL = "(?i)(?:https?://|ftp://|www\\.)" + re2_class(WHITESPACE + "<>()\"'", negate=True) + "+" + _URL_END
BRACKETS = f"\\({_WS}*\\)|\\[{_WS}*\\]|<{_WS}*>"
SPACE_RUN = r"[ \t\x{a0}\x{2000}-\x{200a}\x{3000}]"
# What makes a string of printable ASCII (and newlines) change under cleaning; boilerplate is added per stage.
TRIGGERS = (
    r"[^\x{20}-\x{7e}\n]|  | \n|\n |\A[ \n]|[ \n]\z|\n\n\n|://|(?i:www\.)|@"
    r"|\([ \n]*\)|\[[ \n]*\]|<[ \n]*>| [.,;:!?]"
)
_UNSAFE = re.compile(r"\\[A-Za-z0-9]|\(\?[^:]|\$|[^\x00-\x7f]")


@functools.cache
def re2_runs_like_python(pattern: str) -> bool:
    """Whether a (case-insensitive) boilerplate pattern means the same to RE2 and Rust regex as to Python:
    ASCII only, no class escapes (``\\b \\w \\s \\d``...), no ``$``, no ``(?`` other than ``(?:``, compiles."""
    if _UNSAFE.search(pattern.replace("(?:", "")):
        return False
    try:
        pc.match_substring_regex(pa.array(["x"]), f"(?i:{pattern})")
        pl.Series(["x"]).str.contains(f"(?i:{pattern})")
    except (pa.ArrowInvalid, pl.exceptions.ComputeError):
        return False
    return True


@functools.cache
def ascii_foldable() -> str:
    """Non-ASCII characters Python's case-insensitive matching may equate with an ASCII letter (``ı``, ``ſ``,
    the Kelvin sign...), as an RE2 class."""
    found = [
        c
        for c in (chr(x) for x in range(0x80, 0x3000))
        if any(v.isascii() for v in (c.lower(), c.upper(), c.casefold()))
    ]
    return re2_class("".join(found) + "\u212a\u212b")


class ColumnCleaner:
    """Cleans Arrow string arrays the way the reference ``clean_text`` cleans one string. The Python pieces it
    falls back on: ``email`` (the e-mail regex), ``boiler`` (the compiled boilerplate regex or None),
    ``remove_sentences`` (the sentence-removal step, for rows that hold boilerplate)."""

    def __init__(
        self,
        unicode_form: str,
        remove_odd_chars: bool,
        remove_urls: bool,
        remove_emails: bool,
        boilerplate: list[str],
        remove_boiler_sentences: bool,
        collapse_whitespace: bool,
        email: re.Pattern,
        boiler: re.Pattern | None,
        remove_sentences: Callable[[str], str],
    ):
        self.form, self.odd, self.urls, self.emails = (
            unicode_form,
            remove_odd_chars,
            remove_urls,
            remove_emails,
        )
        self.collapse = collapse_whitespace
        self.email, self.boiler, self.remove_sentences = email, boiler, remove_sentences
        self.boiler_on = remove_boiler_sentences and boiler is not None
        self.boiler_re2 = boiler_pattern(boilerplate)
        triggers = TRIGGERS
        if self.boiler_on and self.boiler_re2 is not None:
            triggers += "|" + self.boiler_re2
        self.triggers = triggers if (self.boiler_re2 is not None or not self.boiler_on) else None

    def clean(self, arr: pa.Array) -> pa.Array:
        """The cleaned strings (nulls stay null)."""
        if self.triggers is None:
            rows = np.arange(len(arr))
        else:
            rows = np.flatnonzero(contains(arr, self.triggers).to_numpy(zero_copy_only=False))
        if rows.size == 0:
            return arr
        sub = arr.take(pa.array(rows))
        return replace_rows(arr, rows, self._clean_all(sub))

    def _clean_all(self, arr: pa.Array) -> pa.Array:
        if self.form != "none":
            out = pc.utf8_normalize(arr, self.form)
            special = fallback_chars().get(self.form.lower())
            if special:
                out = by_python(
                    arr, contains(arr, special), functools.partial(unicodedata.normalize, self.form), out
                )
            arr = out
        if self.odd:
            arr = replace_all(
                pc.replace_substring(pc.replace_substring(arr, "\r\n", "\n"), "\r", "\n"), ODD, ""
            )
        if self.urls:
            arr = replace_all(arr, URL, "")
        if self.emails:
            arr = by_python(arr, contains(arr, "@"), lambda t: self.email.sub("", t), arr)
        if self.urls or self.emails:
            arr = replace_all(arr, BRACKETS, "")
        if self.boiler_on:
            arr = by_python(arr, may_hold(arr, self.boiler_re2), self.remove_sentences, arr)
        if self.collapse:
            arr = replace_all(arr, f"{SPACE_RUN}{{2,}}|[\\t\\x{{a0}}\\x{{2000}}-\\x{{200a}}\\x{{3000}}]", " ")
            arr = replace_all(arr, f"{_WS_NOT_NL}*\\n{_WS_NOT_NL}*", "\n")
            arr = replace_all(arr, "\\n{3,}", "\n\n")
            arr = replace_all(arr, f"\\A{_WS}+|{_WS}+\\z", "")
            arr = replace_all(arr, " +([.,;:!?])", "$1")
        return arr


def boiler_pattern(patterns: list[str]) -> str | None:
    """The boilerplate patterns as one case-insensitive RE2 alternation, or None if one is not RE2-safe."""
    if not patterns:
        return None
    if not all(re2_runs_like_python(p) for p in patterns):
        return None
    return "(?i:" + "|".join(f"(?:{p})" for p in patterns) + ")"


def may_hold(arr: pa.Array, boiler_re2: str | None) -> pa.Array:
    """Rows that may hold a boilerplate match: a superset when RE2 runs the patterns as Python does, else all."""
    if boiler_re2 is None:
        return pa.array(np.ones(len(arr), bool))
    return pc.or_(contains(arr, boiler_re2), contains(arr, ascii_foldable()))


__all__ = ["ColumnCleaner", "boiler_pattern", "may_hold", "replace_all"]
