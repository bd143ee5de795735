"""The one text normaliser for comparisons, and the Arrow-vectorised text tools that equal Python's ``str``/``re``.

``normalised(text)``: NFKC, case folded, every run of non-word characters (and ``_``) turned into one space,
trimmed. Exact dedup compares rows on it; any stage that compares text should import it rather than write
its own. ``normalised_array`` is the same over an Arrow array of strings, in C (Arrow compute, RE2), with
byte-identical results:

- Python's ``\\w``, ``\\s`` and ``str.isspace`` are Unicode-wide while RE2's are ASCII-only, so character classes
  are spelled out here from Python's own definitions (``WHITESPACE``, ``word_class()``).
- Arrow (utf8proc) may follow a newer Unicode version than Python's ``unicodedata``; the few code points where
  its NFKC or lower case differ from Python's NFKC or ``casefold`` (``fallback_chars()``, computed once per
  process from both libraries) send the strings holding them through the Python function instead.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Python's whitespace (str.isspace, re's \s for str patterns): 29 code points.
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# Code points that can be assigned: planes 0-3 and 14 (planes 4-13 are unassigned; 15-16 private use).
_PLANES = [(0, 0xD7FF), (0xE000, 0x3FFFF), (0xE0000, 0xE0FFF)]


def re2_class(chars: str = "", ranges: list[tuple[int, int]] | None = None, negate: bool = False) -> str:
    """An RE2 character class holding ``chars`` and the inclusive code point ``ranges``."""
    parts = [f"\\x{{{ord(c):x}}}" for c in chars]
    parts += [f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges or []]
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _ranges(codes: np.ndarray) -> list[tuple[int, int]]:
    if codes.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(codes) != 1)
    starts = np.concatenate([[codes[0]], codes[breaks + 1]])
    ends = np.concatenate([codes[breaks], [codes[-1]]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _all_chars() -> list[str]:
    return [chr(c) for a, b in _PLANES for c in range(a, b + 1) if c]


@functools.cache
def word_class(negate: bool = True) -> str:
    """Python's ``[\\W_]`` (``negate``) or ``[^\\W_]`` (letters and numbers: ``str.isalnum``) as an RE2 class."""
    codes = np.array([ord(c) for c in _all_chars() if c.isalnum()], np.int64)
    return re2_class(ranges=_ranges(codes), negate=negate)


@functools.cache
def fallback_chars() -> dict[str, str]:
    """``{"nfkc": class, "nfc": class, "fold": class}``: RE2 classes of the code points where Arrow's NFKC (NFC)
    differs from ``unicodedata.normalize``'s, and where Arrow's lower case differs from ``str.casefold``."""
    chars = _all_chars()
    joined = "\x00".join(chars)  # NUL blocks composition, so each code point is normalised on its own
    arrow = pa.array([joined])
    out = {}
    for name, ours, theirs in (
        ("nfkc", pc.utf8_normalize(arrow, "NFKC")[0].as_py(), unicodedata.normalize("NFKC", joined)),
        ("nfc", pc.utf8_normalize(arrow, "NFC")[0].as_py(), unicodedata.normalize("NFC", joined)),
        ("fold", pc.utf8_lower(arrow)[0].as_py(), joined.casefold()),
    ):
        differ = [
            ord(c) for c, a, b in zip(chars, ours.split("\x00"), theirs.split("\x00"), strict=True) if a != b
        ]
        out[name] = re2_class(ranges=_ranges(np.array(differ, np.int64))) if differ else ""
    return out


def normalised(text: str) -> str:
    """Case, compatibility forms, punctuation and whitespace folded away (what exact dedup compares)."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def by_python(arr: pa.Array, mask: pa.Array, fn, done: pa.Array) -> pa.Array:
    """``done`` with the rows of ``mask`` replaced by ``fn`` of the original strings in ``arr``."""
    rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if rows.size == 0:
        return done
    fixed = pa.array([None if t is None else fn(t) for t in arr.take(rows).to_pylist()], done.type)
    return replace_rows(done, rows, fixed)


def replace_rows(arr: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """``arr`` with ``arr[rows[k]] = values[k]``."""
    index = np.arange(len(arr), dtype=np.int64)
    index[rows] = len(arr) + np.arange(rows.size)
    combined = pa.concat_arrays([arr, values.cast(arr.type)])
    return combined.take(pa.array(index))


def contains(arr: pa.Array, pattern: str) -> pa.Array:
    """Whether each string holds a match of the RE2 ``pattern`` (null strings: False)."""
    return pc.fill_null(pc.match_substring_regex(arr, pattern), False)


def normalised_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``normalised`` over every string of ``arr`` (nulls stay null), vectorised; equal to the Python one."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    nfkc = pc.utf8_normalize(arr, "NFKC")
    out = pc.utf8_trim(replace_all(pc.utf8_lower(nfkc), _word_runs(), " "), " ")
    fb = fallback_chars()
    wide = np.flatnonzero(~np.asarray(pc.fill_null(pc.string_is_ascii(arr), True), bool))
    if wide.size == 0:  # the fallback characters are all outside ASCII
        return out
    sub, sub_nfkc = arr.take(pa.array(wide)), nfkc.take(pa.array(wide))
    mask = np.zeros(len(arr), bool)
    for strings, special in ((sub, fb["nfkc"]), (sub_nfkc, fb["fold"])):
        if special:  # strings where Arrow's NFKC (or lower case) tables differ from Python's NFKC (casefold)
            mask[wide] |= contains(strings, special).to_numpy(zero_copy_only=False)
    return by_python(arr, pa.array(mask), normalised, out)


def _word_runs() -> str:
    r"""Runs of ``[\W_]`` that are not a single space (replacing those by a space changes nothing)."""
    return f"{word_class()}{{2,}}|[^ {word_class(False)[1:-1]}]"


def replace_all(arr: pa.Array, pattern: str, replacement: str) -> pa.Array:
    """Every match of the regex ``pattern`` replaced (Rust regex via polars, faster than RE2 here; ``$1`` for
    groups). The patterns used here mean the same to both engines (no ``\\b \\w \\s``, classes spelled out)."""
    if len(arr) == 0:
        return arr
    import polars as pl

    return pl.from_arrow(arr).str.replace_all(pattern, replacement).to_arrow()
