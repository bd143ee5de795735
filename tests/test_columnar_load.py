"""Loading on Arrow (factory/sources/columnar.py) equals loading record by record: on the real files of the
shared data folder and on fuzzed JSONL / Parquet (odd Unicode, escapes, blanks, nulls, missing keys, wrong
types, duplicate ids, bad lines), the column path gives the same table as the per-record adapters, or
declines the file (then the per-record path reads it, with its file:line errors and drops)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from factory.rows import schema as row_schema
from factory.sources import load as L
from factory.sources.adapters import Context, get_adapter
from factory.sources.columnar import read_jsonl_table
from factory.sources.config import SourceConfig
from factory.sources.readers import display_path, file_keys, infer_format, resolve_files
from factory.sources.sink import rows_table
from factory.stage import with_drop_columns


def both_paths(cfg: SourceConfig, base: Path) -> list[tuple[pa.Table | None, pa.Table]]:
    """Per file of ``cfg``: (the column path's table or None, the per-record path's table)."""
    adapter = get_adapter(cfg.adapter, cfg.name)
    files = resolve_files(cfg, base)
    out = []
    for path, key in zip(files, file_keys(files), strict=True):
        fmt = infer_format(path, cfg)
        unit = L._Unit(display_path(path, base), key, Context(cfg, path), L._reader(path, fmt, cfg, adapter))
        fast = L._unit_table(cfg, adapter, unit, {"path": str(path), "format": fmt}, set())
        rows = [row for _, _, row in L._unit_rows(cfg, adapter, [unit], set())]
        out.append((fast, rows_table(rows, with_drop_columns(row_schema()))))
    return out


REAL = [
    ("B_medical_openqa/medquad/medquad.jsonl", "medquad", {}),
    (
        "B_medical_openqa/medquad/medquad.jsonl",
        "fields",
        {"kind": "prompt", "fields": {"question": "question"}},
    ),
    ("B_medical_openqa/medicationqa/medicationqa.jsonl", "medicationqa", {}),
    (
        "B_medical_openqa/medicationqa/medicationqa.jsonl",
        "fields",
        {
            "kind": "qa",
            "fields": {
                "question": ["Question", "Focus (Drug)"],
                "answer": "Answer",
                "subject": "Question Type",
            },
        },
    ),  # fmt: skip
]


@pytest.mark.parametrize(("path", "adapter", "extra"), REAL)
def test_real_files_equal(shared_data, path, adapter, extra):
    cfg = SourceConfig(name="src", path=path, adapter=adapter, **extra)
    for fast, ref in both_paths(cfg, shared_data):
        assert fast is not None, "the column path declined a clean real file"
        assert fast.equals(ref)


# ---- fuzzed input ---------------------------------------------------------------------------------------

PIECES = ["word", "Ünïcödé", " ", "  ", "\u00a0", "\u2003", "\x1c", "\t", "\n", '"quoted"', "back\\slash",
          "\x01", "\x08", "\x0c", "\r", "\u2028", "😀", "日本語", "ﬁ", "", "\x7f", "{", "}{", "\u0085"]  # fmt: skip


def fuzz_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))


def fuzz_value(rng: random.Random):
    roll = rng.random()
    if roll < 0.7:
        return fuzz_text(rng)
    return rng.choice([None, 7, -3, 0, True, 2.5, ["a"], {"x": 1}, ""])


def fuzz_record(
    rng: random.Random, clean: bool, int_ids: bool = False, optional: tuple[str, ...] = ()
) -> dict:
    keys = ["id", "subset", "question", "answer", "source", "focus", "instruction", "input", "output"]
    rec = {}
    for k in keys:
        if clean:
            rec[k] = fuzz_text(rng) + ("x" if k in ("question", "answer", "instruction", "output") else "")
            if k == "id":
                rec[k] = rng.randint(0, 50) if int_ids else rng.choice([f"id{rng.randint(0, 50)}", ""])
        elif rng.random() < 0.9:
            rec[k] = fuzz_value(rng)
    if clean and rng.random() < 0.3:  # what the column path must handle itself: drops, absent optional keys
        for k in optional:
            if k in ("answer", "output"):  # an empty answer: a drop
                rec[k] = rng.choice(["", " \u00a0", "\u2003"])
            elif rng.random() < 0.5:
                rec.pop(k)
            elif rng.random() < 0.5:
                rec[k] = None
    return rec


def fuzz_lines(rng: random.Random, n: int, clean: bool, optional: tuple[str, ...] = ()) -> bytes:
    """``n`` JSONL records; ``optional``: keys the adapter reads that clean records may lack or hold null
    (``answer`` / ``output``: may be blank)."""
    int_ids = rng.random() < 0.5
    records = [fuzz_record(rng, clean, int_ids, optional) for _ in range(n)]
    lines = [json.dumps(r, ensure_ascii=rng.random() < 0.5).encode() for r in records]
    if not clean:
        for _ in range(rng.randint(0, 2)):
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(
                [b"", b"   ", b'{"id": 1}{"id": 2}', b"[1]", b'"text"', b"\xff\xfe", b'{"a": NaN}',
                 b'{"question": "\\ud800"}', b"\xef\xbb\xbf{}", b'{"question": "a", "question": "b"}']))  # fmt: skip
    return b"\n".join(lines) + rng.choice([b"\n", b""])


ADAPTERS = [
    ("medquad", {}, ("id", "source", "answer")),
    ("alpaca", {}, ("id", "input", "output")),
    ("fields", {"kind": "qa", "fields": {"id": "id", "question": ["question", "input"], "answer": "answer",
                                         "subject": "focus"}}, ("id", "input", "focus")),
    ("fields", {"kind": "text", "fields": {"text": "output"}}, ()),
]  # fmt: skip


@pytest.mark.parametrize(("adapter", "extra", "optional"), ADAPTERS)
@pytest.mark.parametrize("clean", [True, False])
def test_fuzzed_jsonl_equal(tmp_path, adapter, extra, optional, clean):
    rng = random.Random(f"{adapter}{clean}{extra}")
    taken = 0
    for k in range(25):
        (tmp_path / f"f{k}.jsonl").write_bytes(fuzz_lines(rng, rng.randint(1, 40), clean, optional))
        cfg = SourceConfig(name="src", path=f"f{k}.jsonl", adapter=adapter, on_error="skip", **extra)
        for fast, ref in both_paths(cfg, tmp_path):
            if fast is not None:
                taken += 1
                assert fast.equals(ref), (k, fast.to_pylist()[:3], ref.to_pylist()[:3])
    if clean:
        assert taken >= 10  # clean files mostly take the column path (a blank required text declines)


def test_parquet_equal(tmp_path):
    rng = random.Random(5)
    records = [fuzz_record(rng, True) for _ in range(300)]
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "part.parquet")
    cfg = SourceConfig(name="src", path="part.parquet", adapter="medquad")
    ((fast, ref),) = both_paths(cfg, tmp_path)
    assert fast is not None and fast.equals(ref)


@pytest.mark.parametrize(
    "data",
    [b"", b" {}\n", b'{"a": 1}\n\n{"a": 2}\n', b'{"a": 1}{"a": 2}\n', b'{"a": "\xff"}\n', b'{"a": 1}\n\xef\xbb\xbf{"a": 2}\n'],
)  # fmt: skip
def test_jsonl_reader_declines_what_json_loads_reads_otherwise(data):
    assert read_jsonl_table(data) is None


def test_jsonl_reader_reads_long_lines_and_a_first_bom():
    assert read_jsonl_table(b'\xef\xbb\xbf{"a": "x"}\n{"a": "y"}').num_rows == 2
    assert read_jsonl_table(b'{"a": "' + b"x" * (3 << 20) + b'"}\n').num_rows == 1


# ---- sources on an fsspec filesystem ----------------------------------------------------------------------


def test_source_files_through_fsspec(tmp_path):
    """A ``path:`` URL is listed, fingerprinted and read through fsspec (its in-memory filesystem here, as a
    stand-in for a bucket): the same rows as the same files on disk, by both load paths."""
    import fsspec

    from factory.sources import fingerprint_source, load_source
    from factory.sources.load import load_parts, load_task

    rng = random.Random(3)
    fs = fsspec.filesystem("memory")
    for k in range(2):
        data = fuzz_lines(rng, 30, True, ("id", "answer"))
        fs.pipe(f"/bucket21/qa-{k}.jsonl", data)
        (tmp_path / f"qa-{k}.jsonl").write_bytes(data)
    remote = SourceConfig(name="qa", path="memory://bucket21/qa-*.jsonl", adapter="medquad")
    local = SourceConfig(name="qa", path="qa-*.jsonl", adapter="medquad")
    assert list(load_source(remote, tmp_path)) == list(load_source(local, tmp_path))
    fp_remote, fp_local = fingerprint_source(remote, tmp_path), fingerprint_source(local, tmp_path)
    assert [f["xxh3_128"] for f in fp_remote["files"]] == [f["xxh3_128"] for f in fp_local["files"]]
    assert fp_remote["files"][0]["path"].startswith("memory://")  # the URL names the file in ids and drops
    assert fp_remote["files"][0]["path"].endswith("/bucket21/qa-0.jsonl")
    tables = []
    for cfg in (remote, local):
        (out := tmp_path / cfg.path.split(":")[0]).mkdir()
        spec = {"out": str(out), "entry": "load", "stage": "load", "root": str(tmp_path), "keep_rows": False}
        results = [load_task(spec, 0, cfg.model_dump(), part) for part in load_parts(cfg, tmp_path)]
        files = sorted((out / "data").glob("*.parquet"))
        assert [r["rows_in"] for r in results] == [30, 30]
        tables.append(pa.concat_tables(pq.read_table(f) for f in files))
    assert tables[0].equals(tables[1])
