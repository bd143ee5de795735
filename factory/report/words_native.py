"""Pieces per text as ``pyarrow.compute.utf8_split_whitespace`` cuts them (``list_value_length`` of its result),
in one compiled pass over an Arrow string array's buffers instead of materialising every word.

In: a string or large_string array (nulls allowed). Out: int64 per text, 0 for null. Arrow splits at every
maximal run of Unicode whitespace and keeps an empty piece at each end that is whitespace, plus one more
empty piece when the text ends in two or more whitespace characters (pyarrow 2x's way: "a  " -> ["a", "",
""]): 1 + runs + that one ("" -> 1, " a b " -> 4, " a b  " -> 5). Whitespace is the code points
``WHITESPACE`` lists (pyarrow's set). tests/test_report_lengths.py checks all this against pyarrow over every
code point and fuzzed texts; the one difference known is pyarrow's own slip on the noncharacter U+10FFFF
just before trailing whitespace ("a\U0010ffff " -> 1 piece there, 2 here).
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

WHITESPACE = (
    [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680]
    + list(range(0x2000, 0x200B))
    + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
)
_SPACE = np.zeros(0x3001, np.bool_)
_SPACE[WHITESPACE] = True


@numba.njit(cache=True, nogil=True)
def _pieces(data, offsets, valid, space, out):
    for i in range(len(out)):
        if not valid[i]:
            out[i] = 0
            continue
        pos, end, runs, prev, run = offsets[i], offsets[i + 1], 0, False, 0
        while pos < end:
            b = data[pos]
            if b < 0x80:
                cp, step = b, 1
            elif b < 0xE0:
                cp, step = ((b & 0x1F) << 6) | (data[pos + 1] & 0x3F), 2
            elif b < 0xF0:
                cp, step = ((b & 0x0F) << 12) | ((data[pos + 1] & 0x3F) << 6) | (data[pos + 2] & 0x3F), 3
            else:
                cp, step = 0x110000, 4  # nothing above U+3000 is whitespace
            ws = cp < len(space) and space[cp]
            if ws and not prev:
                runs += 1
            run = run + 1 if ws else 0
            prev = ws
            pos += step
        out[i] = 1 + runs + (1 if run >= 2 else 0)


def pieces(texts: pa.Array) -> np.ndarray:
    """Pieces per text, equal to ``utf8_split_whitespace``'s list lengths (nulls: 0)."""
    if pa.types.is_large_string(texts.type):
        width = np.int64
    elif pa.types.is_string(texts.type):
        width = np.int32
    else:
        raise TypeError(f"pieces() takes strings, not {texts.type}")
    n = len(texts)
    _, offsets_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(offsets_buf, width, n + 1, texts.offset * np.dtype(width).itemsize)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    valid = pc.is_valid(texts).to_numpy(zero_copy_only=False)
    out = np.empty(n, np.int64)
    _pieces(data, offsets.astype(np.int64), valid, _SPACE, out)
    return out
