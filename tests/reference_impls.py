"""Row-at-a-time reference implementations of vectorised stages, kept only to test them against.

In: a stage (its params) and row dicts. Out: what the stage's vectorised or distributed code must give:
rows (kept, or ``drop()``-ed with reason and detail) for ``normalize``, ``length_filter`` and
``heuristic_filter``; ``(drops by id, report)`` for exact and MinHash dedup, computed in one process
(``keys`` then ``decide``, as a ``GlobalStage`` on the driver would). Straightforward Python, slow on purpose.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np
import xxhash

from factory.rows import RESPONSE_FIELDS, iter_texts, main_text, map_texts, missing_fields
from factory.stage import drop
from factory.textnorm import normalised
from filters.clean.cleaning import EMAIL_RE, LengthFilter, Normalize
from filters.clean.heuristics import HeuristicFilter
from filters.dedup import minhash_core as core
from filters.dedup.exact import ExactDedup
from filters.dedup.minhash import MinHashDedup
from filters.dedup.text import dedup_text

Drops = dict[str, tuple[str, str | None]]

# -- normalize -----------------------------------------------------------------------------------------
URL_RE = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>()\"']+[^\s<>()\"'.,;:!?]", re.IGNORECASE)
# Control and invisible characters except \n and \t; replacement char; private-use area.
ODD_RE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ufffd\ue000-\uf8ff]"
)
SPACES_RE = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
BLANK_LINES_RE = re.compile(r"\n\s*\n(\s*\n)+")
EMPTY_BRACKETS_RE = re.compile(r"\(\s*\)|\[\s*\]|<\s*>")


def clean_text(stage: Normalize, text: str) -> str:
    """One string cleaned as ``Normalize`` cleans every text (its ``setup()`` has run)."""
    if stage.unicode_form != "none":
        text = unicodedata.normalize(stage.unicode_form, text)
    if stage.remove_odd_chars:
        text = ODD_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if stage.remove_urls:
        text = URL_RE.sub("", text)
    if stage.remove_emails:
        text = EMAIL_RE.sub("", text)
    if stage.remove_urls or stage.remove_emails:
        text = EMPTY_BRACKETS_RE.sub("", text)
    if stage.boilerplate_action == "remove_sentence":
        text = stage._remove_sentences(text)
    if stage.collapse_whitespace:
        text = SPACES_RE.sub(" ", text)
        text = "\n".join(line.strip() for line in text.split("\n"))
        text = BLANK_LINES_RE.sub("\n\n", text).strip()
        text = re.sub(r" +([.,;:!?])", r"\1", text)
    return text


def normalize_rows(stage: Normalize, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``Normalize`` one row at a time (its ``setup()`` has run)."""
    out = []
    for row in rows:
        found = (
            stage._boilerplate(row)
            if stage._boiler is not None and stage.boilerplate_action == "drop_row"
            else None
        )
        if found is not None:
            out.append(drop(row, "boilerplate", found))
            continue
        cleaned = map_texts(row, lambda text: clean_text(stage, text))
        missing = missing_fields(cleaned)
        out.append(drop(row, "empty_after_clean", ",".join(missing)) if missing else cleaned)
    return out


# -- length_filter and heuristic_filter ----------------------------------------------------------------
def _length_drop(stage: LengthFilter, row: dict[str, Any]) -> tuple[str, str] | None:
    n = len(main_text(row))
    if n < stage.min_chars:
        return "too_short", f"{n} < {stage.min_chars} chars"
    if stage.max_chars is not None and n > stage.max_chars:
        return "too_long", f"{n} > {stage.max_chars} chars"
    if row["kind"] == "mcqa":
        return None
    fields = RESPONSE_FIELDS.get(row["kind"], ())
    if row["kind"] == "chat":
        texts = [m["content"] or "" for m in row["messages"] if m["role"] == "assistant"]
    else:
        texts = list(iter_texts(row, fields))
    if fields and texts:
        shortest, longest = min(map(len, texts)), max(map(len, texts))
        if shortest < stage.min_response_chars:
            return "response_too_short", f"{shortest} < {stage.min_response_chars} chars"
        if stage.max_response_chars is not None and longest > stage.max_response_chars:
            return "response_too_long", f"{longest} > {stage.max_response_chars} chars"
    return None


def length_filter_rows(stage: LengthFilter, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``LengthFilter`` one row at a time."""
    return [row if (why := _length_drop(stage, row)) is None else drop(row, *why) for row in rows]


def heuristic_rows(stage: HeuristicFilter, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``HeuristicFilter`` one row at a time (``check``: its per-row rules)."""
    return [row if (failed := stage.check(row)) is None else drop(row, *failed) for row in rows]


# -- exact dedup ---------------------------------------------------------------------------------------
def exact_text(stage: ExactDedup, row: dict[str, Any]) -> str:
    """The normalised text ``ExactDedup`` compares one row on (``texts`` for a whole table)."""
    if stage.on == "question":
        if row["kind"] == "chat":
            return normalised(" ".join(m["content"] or "" for m in row["messages"] if m["role"] == "user"))
        fields = ("prompt",) if row["kind"] == "preference" else ("context", "question")
        return normalised(" ".join(iter_texts(row, fields)))
    return normalised(" ".join(iter_texts(row)))


def exact_decision(stage: ExactDedup, rows: list[dict[str, Any]]) -> tuple[Drops, dict[str, Any]]:
    """Exact dedup of the rows ``apply_to`` selects, in order: the first of each text is kept."""
    first: dict[str, str] = {}
    drops: Drops = {}
    for row in _selected(stage, rows):
        scope = "" if stage.across_kinds else row["kind"]
        digest = xxhash.xxh3_128_hexdigest(f"{scope}\x00{exact_text(stage, row)}".encode())
        kept = first.setdefault(digest, row["id"])
        if kept != row["id"]:
            drops[row["id"]] = ("exact_duplicate", f"duplicate_of={kept}")
    return drops, {"distinct": len(first), "duplicates": len(drops)}


# -- MinHash dedup ---------------------------------------------------------------------------------------
def minhash_decision(stage: MinHashDedup, rows: list[dict[str, Any]]) -> tuple[Drops, dict[str, Any]]:
    """MinHash dedup of the rows ``apply_to`` selects, in one process: every row's signature and band keys,
    then the candidate pairs, verification, components and keep rule over all of them at once."""
    return _minhash_decide(stage, _minhash_keys(stage, _selected(stage, rows)))


def _minhash_keys(stage: MinHashDedup, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not rows:
        return []
    texts = [dedup_text(r, stage.on) for r in rows]
    hashes, per_doc = core.text_shingles(texts, stage.shingle, stage.ngram)
    sig = core.signatures(hashes, per_doc, stage.num_perm, stage.seed, stage.scheme)
    bands = core.band_hashes(sig, *stage.band_params())
    if not stage.across_kinds:  # rows of different kinds never share a bucket
        salts = {k: np.uint64(xxhash.xxh64_intdigest(k.encode())) for k in {r["kind"] for r in rows}}
        bands ^= np.array([salts[r["kind"]] for r in rows], np.uint64)[:, None]
    rank = {s: i for i, s in enumerate(stage.source_priority)}
    return [
        {
            "id": row["id"],
            "bands": bands[i] if per_doc[i] else None,
            "sig": sig[i] if per_doc[i] and stage.verify else None,
            "length": len(texts[i]),
            "priority": rank.get(row["source"], len(rank)),
        }
        for i, row in enumerate(rows)
    ]


def _minhash_decide(stage: MinHashDedup, keys: list[dict[str, Any]]) -> tuple[Drops, dict[str, Any]]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    bands, rows = stage.band_params()
    docs = np.array([k for k, key in enumerate(keys) if key["bands"] is not None], np.int64)
    n = docs.size
    band_keys = np.array([keys[k]["bands"] for k in docs], np.uint64).reshape(n, bands)
    i, j = core.candidate_pairs(band_keys, stage.max_bucket)
    sig = (
        np.array([keys[k]["sig"] for k in docs], np.uint32).reshape(n, stage.num_perm)
        if stage.verify
        else None
    )
    candidates = i.size
    if sig is not None:
        ok = core.estimated_jaccard(sig, i, j) >= stage.threshold
        i, j = i[ok], j[ok]
    _, labels = connected_components(
        coo_matrix((np.ones(i.size, np.int8), (i, j)), shape=(n, n)), directed=False
    )
    sizes = np.bincount(labels)
    length = np.array([keys[k]["length"] for k in docs], np.int64)
    priority = np.array([keys[k]["priority"] for k in docs], np.int64)
    by_length = -length if stage.keep == "longest" else np.zeros(n, np.int64)
    order = np.lexsort((docs, by_length, priority, labels))  # last key sorts first
    first = np.ones(n, bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    kept_of_label = np.empty(sizes.size, np.int64)
    kept_of_label[labels[order][first]] = order[first]
    kept = kept_of_label[labels]
    dropped = np.flatnonzero(kept != np.arange(n))
    kept_ids = [keys[docs[k]]["id"] for k in kept[dropped]]
    if sig is not None:
        est = core.estimated_jaccard(sig, dropped, kept[dropped])
        details = [f"duplicate_of={k} est_jaccard={e:.3f}" for k, e in zip(kept_ids, est, strict=True)]
    else:
        details = [f"duplicate_of={k}" for k in kept_ids]
    clusters = sizes[sizes >= 2]
    edges = np.histogram(clusters, [2, 3, 4, 10, 100, np.iinfo(np.int64).max])[0]
    report = {
        "docs": len(keys),
        "docs_without_tokens": len(keys) - n,
        "bands": bands,
        "rows": rows,
        "candidate_pairs": int(candidates),
        "verified_pairs": int(i.size) if sig is not None else None,
        "clusters": int(clusters.size),
        "duplicates": int(dropped.size),
        "largest_cluster": int(clusters.max()) if clusters.size else 0,
        "cluster_sizes": dict(zip(["2", "3", "4-9", "10-99", "100+"], map(int, edges), strict=True)),
    }
    drop_ids = [keys[docs[k]]["id"] for k in dropped]
    return {d: ("near_duplicate", det) for d, det in zip(drop_ids, details, strict=True)}, report  # fmt: skip


def _selected(stage: ExactDedup | MinHashDedup, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if stage.apply_to is None or stage.apply_to.matches(r)]
