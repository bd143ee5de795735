"""Synthetic open-QA corpus for the data-plane benchmarks: N MedQuAD-style records of ~1 KB in F JSONL files.

Each record is ``{"id", "subset", "question", "answer", "source", "focus"}`` (the ``medquad`` adapter reads
it). The text is made of medical-sounding sentences over a ~2k-word vocabulary, with what real corpora
carry, planted at fixed rates so every stage of the benchmark recipe has work:

- 3% exact duplicates of an earlier record (case, spacing and punctuation changed: ``exact_dedup``),
- 4% near duplicates (about 1% of the answer's words replaced: ``minhash_dedup``),
- 2% URLs, 0.5% e-mail addresses, 1% "As an AI language model" sentences, double spaces, blank lines and
  a few non-ASCII characters (``normalize``),
- 0.5% rows too short for ``length_filter``.

Deterministic for a seed (same bytes every run, whatever ``--jobs``); copies are made within a file.
``--rows`` may be 10M (about 11 GB).

    python bench/dataplane_data.py OUT_DIR --rows 1000000 --files 16 [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path

STEMS = (
    "cardi hepat nephr neur gastr pulmon derm oste arthr my hem lymph onc immun endocrin thyr adren "
    "pancreat splen cholecyst col rect esophag laryng pharyng rhin ot ophthalm retin cortic cerebr "
    "spin vascul arteri ven capill bronch alveol pleur pericard myocard endocard valv aort"
).split()
SUFFIXES = "itis osis emia ectomy ology opathy algia oma plasty scopy otomy ostomy uria ia al ic ous".split()
COMMON = (
    "the a of and to in is with for that on as are by this be or from at an it which may can not have "
    "patients patient treatment therapy dose daily mg oral intravenous infection diagnosis symptoms "
    "clinical risk blood pressure glucose level history pain fever cough chronic acute severe mild "
    "doctor should test results imaging shows usually often rarely common condition disease cause causes"
).split()
UNICODE_BITS = ["38 °C", "5 µg", "2–3 days", "“first-line”", "naïve", "Sjögren", "β-blockers", "≥ 140"]
BOILER = "As an AI language model, I cannot give medical advice."


def vocabulary(rng: random.Random) -> list[str]:
    words = [s + x for s in STEMS for x in SUFFIXES]
    rng.shuffle(words)
    return words[:1500] + COMMON * 8  # common words weigh more, as in text


def sentence(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choices(words, k=n)).capitalize() + "."


def record(rng: random.Random, words: list[str], i: int) -> dict:
    q = " ".join(rng.choices(words, k=rng.randint(10, 18))).capitalize() + "?"
    paragraphs = []
    for _ in range(rng.randint(2, 3)):
        paragraphs.append(
            " ".join(sentence(rng, words, rng.randint(10, 18)) for _ in range(rng.randint(2, 4)))
        )
    a = "\n\n".join(paragraphs)
    roll = rng.random()
    if roll < 0.02:
        a += f" See https://medlineplus.example.org/ency/article/{i:06d}.htm for details."
    elif roll < 0.025:
        a += f" Write to clinic{i}@hospital.example.com (any weekday)."
    elif roll < 0.035:
        a = BOILER + " " + a
    elif roll < 0.06:
        a = a.replace(". ", ".  ", 2) + "  \n\n\n" + rng.choice(UNICODE_BITS)
    elif roll < 0.09:
        a += " " + rng.choice(UNICODE_BITS) + " " + sentence(rng, words, 6)
    return {"id": i, "subset": "bench", "question": q, "answer": a, "source": "bench", "focus": f"f{i % 97}"}


def exact_copy(rng: random.Random, rec: dict, i: int) -> dict:
    q, a = rec["question"], rec["answer"]
    q = q.upper() if rng.random() < 0.5 else q.replace(" ", "  ", 3)
    a = a.rstrip(".") + "!" if rng.random() < 0.5 else a.lower()
    return {**rec, "id": i, "question": q, "answer": a}


def near_copy(rng: random.Random, words: list[str], rec: dict, i: int) -> dict:
    toks = rec["answer"].split(" ")
    for p in rng.sample(range(len(toks)), max(1, len(toks) // 100)):
        toks[p] = rng.choice(words)
    return {**rec, "id": i, "answer": " ".join(toks)}


def records(first: int, count: int, seed: int) -> Iterator[tuple[dict, str, int | None]]:
    """Records ``first .. first+count-1`` of one file as ``(record, what, copied id)``: ``what`` is ``original``,
    ``exact`` or ``near`` (a planted copy of the record ``copied id``) or ``short``. Each file is seeded on
    its own, so files can be made in parallel and the planted copies replayed (``bench/dataplane_quality.py``)."""
    rng = random.Random(seed * 1_000_003 + first)
    words = vocabulary(random.Random(seed))
    recent: list[dict] = []  # earlier records of this file that copies are made from (a bounded window)
    for i in range(first, first + count):
        roll = rng.random()
        if roll < 0.03 and recent:
            src = rng.choice(recent)
            yield exact_copy(rng, src, i), "exact", src["id"]
        elif roll < 0.07 and recent:
            src = rng.choice(recent)
            yield near_copy(rng, words, src, i), "near", src["id"]
        elif roll < 0.075:
            yield {"id": i, "subset": "bench", "question": "Why?", "answer": "No.", "source": "bench",
                   "focus": "short"}, "short", None  # fmt: skip
        else:
            rec = record(rng, words, i)
            if len(recent) < 20_000:
                recent.append(rec)
            else:
                recent[rng.randrange(len(recent))] = rec
            yield rec, "original", None


def write_file(path: Path, first: int, count: int, seed: int) -> None:
    """Records ``first .. first+count-1`` into ``path``."""
    with open(path, "w", encoding="utf-8") as fh:
        for rec, _, _ in records(first, count, seed):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def layout(rows: int, files: int) -> list[tuple[int, int]]:
    """``(first record, count)`` of each file."""
    per_file = -(-rows // files)
    return [(k * per_file, max(0, min(per_file, rows - k * per_file))) for k in range(files)]


def generate(out: Path, rows: int, files: int, seed: int = 0, jobs: int = 1) -> list[Path]:
    """Write ``rows`` records into ``files`` JSONL files under ``out`` (``jobs`` processes); returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"qa-{k:05d}.jsonl" for k in range(files)]
    work = [(p, first, count, seed) for p, (first, count) in zip(paths, layout(rows, files), strict=True)]
    if jobs > 1:
        from multiprocessing import Pool

        with Pool(jobs) as pool:
            pool.starmap(write_file, work)
    else:
        for args in work:
            write_file(*args)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    paths = generate(args.out, args.rows, args.files, args.seed, args.jobs)
    size = sum(p.stat().st_size for p in paths)
    print(
        f"{args.rows} rows in {len(paths)} files, {size / 1e9:.2f} GB, {size / args.rows:.0f} B/row: {args.out}"
    )


if __name__ == "__main__":
    main()
