"""MinHash near-dedup: shingle hashing against a plain-Python reference, signatures against datasketch, band
math, clusters and keep rule on inline rows (both executors), params, and recall on real MedQuAD answers."""

from __future__ import annotations

import json
import random
import unicodedata

import numpy as np
import pytest
from pydantic import ValidationError

from factory.rows import make_row
from factory.testing import run_stage
from filters.dedup import minhash_core as core
from filters.dedup.minhash import MinHashDedup

M64 = (1 << 64) - 1

BASE = (
    "Asthma is a chronic disease of the airways that makes breathing difficult. The inner walls of the "
    "airways become swollen and narrow, and they react strongly to allergens, smoke, cold air or exercise. "
    "During an attack the muscles around the airways tighten, mucus builds up and less air reaches the "
    "lungs, which causes wheezing, coughing, chest tightness and shortness of breath. Symptoms can be mild "
    "or severe and may happen every day or only a few times a year. There is no cure, but most people "
    "control the disease with two kinds of medicine: quick-relief inhalers that open the airways during an "
    "attack, and long-term controller medicines, such as inhaled corticosteroids, that reduce the swelling "
    "over time. An action plan written with a doctor tells patients which medicine to take, when to take "
    "it and when to seek emergency care. Avoiding known triggers, getting the flu vaccine and checking lung "
    "function with a peak flow meter also help to prevent attacks and hospital visits."
)
OTHER = (
    "Gout is a form of inflammatory arthritis caused by crystals of uric acid that build up in a joint, "
    "most often the base of the big toe. Attacks start suddenly, often at night, with intense pain, "
    "redness, warmth and swelling. Risk factors include obesity, alcohol, diets rich in meat and seafood, "
    "some diuretics and kidney disease. Anti-inflammatory drugs, colchicine or steroids treat an attack; "
    "allopurinol or febuxostat lower uric acid over the long term and prevent new attacks."
)


# -- a plain-Python reference of the shingle hash (one word and one shingle at a time) ------------------
def _fmix64(x: int) -> int:
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & M64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & M64
    return x ^ (x >> 33)


def _is_sep(c: str) -> bool:
    o = ord(c)
    return (
        (o < 0x80 and not c.isalnum())
        or 0x80 <= o <= 0xBF
        or c in "\u00d7\u00f7"
        or 0x2000 <= o <= 0x207F
        or (0x3000 <= o <= 0x303F)
    )


def _ref_tokens(text: str, kind: str) -> list[int]:
    folded = unicodedata.normalize("NFKC", text).lower()
    spaced = "".join(" " if _is_sep(c) else c for c in folded)
    if kind == "char":
        return [ord(c) for c in " ".join(spaced.split())]
    out = []
    for word in spaced.split():
        h = 0
        for j, byte in enumerate(word.encode()):
            h = (h + byte * pow(int(core._P), j, 1 << 64)) & M64
        out.append(_fmix64((h + len(word.encode())) & M64))
    return out


def _ref_shingles(text: str, kind: str, n: int) -> list[int]:
    toks = _ref_tokens(text, kind)
    windows = (
        [toks[i : i + n] for i in range(len(toks) - n + 1)] if len(toks) >= n else [toks] if toks else []
    )
    return [_fmix64(sum(int(core._K[k]) * t for k, t in enumerate(w)) & M64) >> 32 for w in windows]


TEXTS = [
    BASE,
    "Café-au-lait spots: ÉCHOGRAPHIE, 3.5 mg/kg; naïve résumé!",
    "",
    "?!",
    "two words",
    "Ｆｕｌｌｗｉｄｔｈ text, 糖尿病 und Übelkeit — x_y ‘quoted’ 5×10³ «a»、b。 ±2 °C\u00a0ok",
]


@pytest.mark.parametrize("kind,n", [("word", 5), ("word", 1), ("char", 4)])
def test_vectorised_shingles_equal_the_reference(kind, n):
    hashes, per_doc = core.text_shingles(TEXTS, kind, n)
    expected = [_ref_shingles(t, kind, n) for t in TEXTS]
    assert per_doc.tolist() == [len(e) for e in expected]
    assert hashes.tolist() == [h for e in expected for h in e]


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 7)])
def test_signatures_equal_datasketch(scheme, num_perm, seed):
    from datasketch import MinHash

    hashes, per_doc = core.text_shingles(TEXTS + [OTHER], "word", 3)
    sig = core.signatures(hashes, per_doc, num_perm, seed, scheme)
    start = 0
    for doc, count in enumerate(per_doc):
        m = MinHash(num_perm, seed, hashfunc=lambda b: int.from_bytes(b, "little"), scheme=scheme)
        m.update_batch([h.tobytes() for h in hashes[start : start + count]])
        start += count
        assert np.array_equal(sig[doc].astype(np.uint64), m.hashvalues.astype(np.uint64)), doc
    a, b = core.permutations(num_perm, seed, scheme)
    ref = MinHash(num_perm, seed, scheme=scheme).permutations
    assert np.array_equal(a, ref[0]) and np.array_equal(b, ref[1])


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("ngram", [1, 2, 5])
def test_compiled_signatures_equal_the_numpy_ones(scheme, ngram):
    """minhash_native's one-pass kernel against minhash_core's arrays, on fuzzed Unicode and the texts above."""
    from filters.dedup.minhash_native import word_signatures

    rng = random.Random(ngram)
    pieces = list("abc xyz,.;-!?  \n\t_0") + ["é", "ß", "\u00a0", "×", "÷", "—", "“", "\u3001", "日本", "İ", "ﬁ",
                                                 "½", "\u2028", "𝔘", "ǅ", "\u0300", "Ⅻ"]  # fmt: skip
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 80))) for _ in range(1500)]
    texts += TEXTS + [OTHER, "x " * 400]
    hashes, per_doc = core.text_shingles(texts, "word", ngram)
    sig, shingles = word_signatures(texts, ngram, 64, 7, scheme)
    assert np.array_equal(shingles, per_doc)
    assert np.array_equal(sig, core.signatures(hashes, per_doc, 64, 7, scheme))


@pytest.mark.parametrize("threshold,num_perm", [(0.8, 128), (0.5, 64), (0.9, 256)])
def test_bands_and_rows_derive_as_datasketch(threshold, num_perm):
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert core.optimal_param(threshold, num_perm) == (lsh.b, lsh.r)
    stage = MinHashDedup(threshold=threshold, num_perm=num_perm)
    weighted = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.1, 0.9))
    assert stage.band_params() == (weighted.b, weighted.r)
    assert MinHashDedup(bands=4, rows=8).band_params() == (4, 8)


def test_band_hashes_and_buckets():
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 2**32, (6, 12), dtype=np.uint32)
    sig[1, :4] = sig[0, :4]  # docs 0 and 1 share band 0 (rows 0-3)
    sig[3, 4:8] = sig[2, 4:8]  # 2, 3, 4 share band 1
    sig[4, 4:8] = sig[2, 4:8]
    sig[5, 4:8] = sig[0, :4]  # same values as a band-0 bucket, but in band 1: not a candidate
    keys = core.band_hashes(sig, bands=3, rows=4)
    assert keys.shape == (6, 3) and keys.dtype == np.uint64
    assert keys[0, 0] == keys[1, 0] and keys[0, 1] != keys[1, 1] and keys[5, 1] != keys[0, 0]
    i, j = core.candidate_pairs(keys)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (2, 3), (2, 4), (3, 4)]
    i, j = core.candidate_pairs(keys, max_bucket=2)  # the 3-doc bucket: star from 2 plus chain
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (2, 3), (2, 4), (3, 4)]
    big = np.repeat(keys[:1], 10, axis=0)
    i, j = core.candidate_pairs(big, max_bucket=4)
    assert i.size == 17 and set(i.tolist()) | set(j.tolist()) == set(range(10))  # 9 star + 8 chain

    # the S-curve: probability that a pair of Jaccard s shares a band is 1 - (1 - s^r)^b
    def candidate(s, b, r):
        return 1 - (1 - s**r) ** b

    b, r = core.optimal_param(0.8, 128)  # datasketch's balanced weights: 9 x 13
    b2, r2 = MinHashDedup().band_params()  # the stage leans to recall (verification cuts the FPs)
    assert b * r <= 128 and b2 * r2 <= 128 and candidate(0.85, b2, r2) > candidate(0.85, b, r)
    assert candidate(0.9, b2, r2) > 0.99 and candidate(0.5, b2, r2) < 0.05


def _edit(text: str, positions: list[int], word: str = "zebra") -> str:
    words = text.split()
    for p in positions:
        words[p] = f"{word}{p}"
    return " ".join(words)


def _jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = set(_ref_shingles(a, "word", n)), set(_ref_shingles(b, "word", n))
    return len(sa & sb) / len(sa | sb)


def _text_row(i: int, text: str, source: str = "s") -> dict:
    return make_row(id=f"{source}:{i}", source=source, kind="text", text=text)


def test_chain_collapses_to_one_cluster_keeping_the_longest(executor):
    a = BASE
    b = _edit(a, [10, 50, 90, 130])
    c = _edit(b, [30, 70, 110, 150], "yak") + " Call a doctor."
    assert _jaccard(a, b) >= 0.75 and _jaccard(b, c) >= 0.75 and _jaccard(a, c) < 0.7  # a chain
    rows = [_text_row(0, a), _text_row(1, OTHER), _text_row(2, b), _text_row(3, c)]
    kept, drops, stats = run_stage(MinHashDedup(threshold=0.7, num_perm=256), rows, executor)
    assert [r["id"] for r in kept] == ["s:1", "s:3"]  # s:3 is the longest of the cluster
    assert sorted(d["id"] for d in drops) == ["s:0", "s:2"]
    assert {d["reason"] for d in drops} == {"near_duplicate"}
    assert all(d["detail"].startswith("duplicate_of=s:3 est_jaccard=") for d in drops)
    assert json.loads(next(d for d in drops if d["id"] == "s:0")["row"])["text"] == a
    report = stats["report"]
    assert report["clusters"] == 1 and report["duplicates"] == 2 and report["largest_cluster"] == 3
    kept, drops, _ = run_stage(MinHashDedup(threshold=0.7, num_perm=256, keep="first"), rows, executor)
    assert [r["id"] for r in kept] == ["s:0", "s:1"]
    assert all(d["detail"].startswith("duplicate_of=s:0 ") for d in drops)


def test_source_priority_kinds_and_empty_texts(executor):
    near = _edit(BASE, [50], "")
    rows = [
        _text_row(0, BASE, source="web"),
        _text_row(1, near, source="curated"),
        make_row(id="q:2", source="web", kind="qa", question=BASE[:400], answer=BASE[401:]),
        _text_row(3, "?!?", source="web"),
        _text_row(4, "...", source="web"),
    ]
    stage = MinHashDedup(source_priority=["curated"])
    kept, drops, _ = run_stage(stage, rows, executor)
    assert [r["id"] for r in kept] == ["curated:1", "q:2", "web:3", "web:4"]
    assert [(d["id"], d["detail"].split()[0]) for d in drops] == [("web:0", "duplicate_of=curated:1")]
    kept, drops, stats = run_stage(MinHashDedup(across_kinds=True), rows, executor)
    assert [r["id"] for r in kept] == ["web:0", "web:3", "web:4"]  # web:0 is the longest
    assert stats["report"]["docs_without_tokens"] == 2
    kept, _, _ = run_stage(MinHashDedup(on="question"), [rows[2], {**rows[2], "id": "q:5", "answer": "x"}])
    assert [r["id"] for r in kept] == ["q:2"]


def test_params_are_validated():
    with pytest.raises(ValidationError, match="both 'bands' and 'rows'"):
        MinHashDedup(bands=8)
    with pytest.raises(ValidationError, match="exceeds num_perm"):
        MinHashDedup(num_perm=64, bands=9, rows=8)
    with pytest.raises(ValidationError, match="must be 1"):
        MinHashDedup(false_positive_weight=0.9)
    for bad in ({"threshold": 1.0}, {"ngram": 0}, {"num_perm": 4}, {"shingle": "byte"}, {"shingels": "x"}):
        with pytest.raises(ValidationError):
            MinHashDedup(**bad)


def test_recall_on_medquad_with_planted_near_duplicates(shared_data):
    records = [json.loads(line) for line in open(shared_data / "B_medical_openqa/medquad/medquad.jsonl")]
    answers = [r["answer"] for r in records if len(r["answer"].split()) >= 80][:1500]
    rng = random.Random(3)
    rows = [_text_row(i, t, "medquad") for i, t in enumerate(answers)]
    planted = {}
    for k, i in enumerate(rng.sample(range(len(answers)), 150)):
        words = answers[i].split()
        for p in rng.sample(range(len(words)), max(1, len(words) // 100)):  # ~1% of words replaced
            words[p] = rng.choice(["fever", "renal", "dose", "the", "chronic"])
        rows.append(_text_row(k, " ".join(words), "planted"))
        if _jaccard(answers[i], rows[-1]["text"]) >= 0.85:  # clear positives by true Jaccard
            planted[f"planted:{k}"] = f"medquad:{i}"
    kept, drops, stats = run_stage(MinHashDedup(), rows, "local")
    rep = {d["id"]: d["detail"].split()[0][len("duplicate_of=") :] for d in drops}
    hits = sum(rep.get(p, p) == rep.get(o, o) for p, o in planted.items())
    assert len(planted) > 100 and hits / len(planted) >= 0.95, (hits, len(planted), stats["report"])
    assert len(kept) + len(drops) == len(rows) and len(drops) < 0.3 * len(rows)
