"""The data plane: vectorised stages against their row references (tests/reference_impls.py), distributed
dedup against the one-process reference, shards written by workers (filters copy nothing, versions are hard links), drop-log references,
fingerprint memo and gc. Stage bodies run under both executors."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests_paths import ROOT

from factory.log import Reporter
from factory.pipeline.runner import _run_stage, build
from factory.pipeline.steps import read_entry
from factory.recipe import load_recipe
from factory.rows import make_row
from factory.rows import schema as row_schema
from factory.stage import with_drop_columns
from factory.storage.gc import collect
from factory.storage.shards import read_all
from factory.storage.store import Store
from factory.textnorm import normalised, normalised_array
from filters.clean.cleaning import LengthFilter, Normalize
from filters.dedup.exact import ExactDedup
from filters.dedup.minhash import MinHashDedup
from filters.dedup.text import dedup_text

sys.path.insert(0, str(ROOT / "bench"))
from dataplane_data import generate  # noqa: E402
from reference_impls import (  # noqa: E402
    exact_decision,
    exact_text,
    heuristic_rows,
    length_filter_rows,
    minhash_decision,
    normalize_rows,
)

QUIET = Reporter(quiet=True)
NASTY = list(
    "aZ_ 9\t\n\r.,;:!?-()[]<>@/'\"ßſıİΣςﬁÅå①²µ\u0301\u00a0\u2028\u200b\u3000\x07\x1c\x85\ufeff\ue001"
) + [
    "http://",
    "https://x.org/a_b",
    "www.",
    "doc@ex.com",
    "As an AI language model",
    "  ",
    "\n\n\n",
    "( )",
    "Ｆ",
]


def fuzz(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    extra = [chr(rng.randrange(0x20, 0x30000)) for _ in range(200)]
    alpha = NASTY + [c for c in extra if not 0xD800 <= ord(c) <= 0xDFFF]
    return ["".join(rng.choices(alpha, k=rng.randint(0, 40))) for _ in range(n)]


def test_normalised_array_equals_python():
    texts = fuzz(20_000) + [None, ""]
    assert normalised_array(pa.array(texts)).to_pylist() == [
        None if t is None else normalised(t) for t in texts
    ]


@pytest.mark.parametrize(
    "params",
    [{}, {"boilerplate_action": "drop_row"}, {"unicode_form": "NFC", "remove_urls": False},
     {"boilerplate": [r"\bai\b"], "collapse_whitespace": False}, {"unicode_form": "none", "remove_odd_chars": False}],
)  # fmt: skip
def test_normalize_table_equals_rows(params):
    texts = fuzz(4000, seed=1)
    rows = [
        make_row(id=f"q{i}", source="s", kind="qa", question=texts[i], answer=texts[-i - 1] or "x")
        for i in range(0, 2000)
    ]
    rows += [
        make_row(
            id=f"m{i}", source="m", kind="mcqa", question=t, options=[t[:5], "", t[3:], "B"], answer_idx=1
        )
        for i, t in enumerate(texts[2000:2400])
    ]
    rows += [
        make_row(id=f"c{i}", source="c", kind="chat", messages=[{"role": "user", "content": t}, {"role": "assistant", "content": t[::-1]}])
        for i, t in enumerate(texts[2400:2800])
    ]  # fmt: skip
    stage = Normalize(**params)
    stage.setup()
    table = pa.Table.from_pylist(rows, schema=row_schema())
    got = stage.apply_table(table)
    want = pa.Table.from_pylist(normalize_rows(stage, rows), schema=with_drop_columns(row_schema()))
    assert got.to_pylist() == want.to_pylist()
    assert 0 < got.column("_drop").null_count < len(rows)


def test_length_filter_table_equals_rows():
    rng = random.Random(2)
    rows = []
    for i in range(600):
        a = "w" * rng.randint(0, 60)
        rows.append(
            make_row(id=f"q{i}", source="s", kind="qa", question="q" * rng.randint(1, 40), answer=a or "x")
        )
        turns = [{"role": r, "content": "y" * rng.randint(0, 30)} for r in ("user", "assistant", "assistant")]
        rows.append(make_row(id=f"c{i}", source="s", kind="chat", messages=turns))
        rows.append(
            make_row(
                id=f"m{i}",
                source="s",
                kind="mcqa",
                question="z" * rng.randint(1, 50),
                options=["a", ""],
                answer_idx=0,
            )
        )
        rows.append(
            make_row(
                id=f"p{i}",
                source="s",
                kind="preference",
                prompt=turns[:1],
                chosen=turns[1:2],
                rejected=turns[2:],
            )
        )
    for params in (
        {"min_chars": 20, "max_chars": 70, "min_response_chars": 5, "max_response_chars": 25},
        {"min_response_chars": 1},
    ):
        stage = LengthFilter(**params)
        table = pa.Table.from_pylist(rows, schema=row_schema())
        got = stage.apply_table(table).to_pylist()
        want = pa.Table.from_pylist(
            length_filter_rows(stage, rows), schema=with_drop_columns(row_schema())
        ).to_pylist()
        assert got == want and any(r["_drop"] for r in got)  # fmt: skip


def dedup_rows(n: int, tmp: Path) -> list[dict]:
    generate(tmp / "gen", n, 1, seed=3)
    rows = []
    for i, line in enumerate(open(tmp / "gen" / "qa-00000.jsonl")):
        r = json.loads(line)
        kind = ("qa", "text", "chat")[i % 7 % 3]
        if kind == "qa":
            rows.append(
                make_row(
                    id=f"s:{i}",
                    source="s" if i % 5 else "t",
                    kind="qa",
                    question=r["question"],
                    answer=r["answer"],
                )
            )
        elif kind == "text":
            rows.append(
                make_row(id=f"s:{i}", source="s", kind="text", text=r["question"] + " " + r["answer"])
            )
        else:
            turns = [
                {"role": "user", "content": r["question"]},
                {"role": "user", "content": ""},
                {"role": "assistant", "content": r["answer"]},
            ]
            rows.append(make_row(id=f"s:{i}", source="s", kind="chat", messages=turns))
    return rows  # fmt: skip


@pytest.mark.parametrize("on", ["all", "question"])
def test_texts_equal_the_row_text(on, tmp_path):
    rows = dedup_rows(300, tmp_path)
    table = pa.Table.from_pylist(rows, schema=row_schema())
    exact = ExactDedup(on=on)
    assert exact.texts(table).to_pylist() == [exact_text(exact, r) for r in rows]
    minhash = MinHashDedup(on=on)
    assert minhash.texts(table).to_pylist() == [dedup_text(r, on) for r in rows]


@pytest.mark.parametrize(
    "stage",
    [ExactDedup(), ExactDedup(on="question", across_kinds=True), MinHashDedup(), MinHashDedup(keep="first", verify=False),
     MinHashDedup(threshold=0.6, source_priority=["t"], max_bucket=3, apply_to={"kinds": ["qa", "chat"]})],
    ids=["exact", "exact-question", "minhash", "minhash-noverify", "minhash-priority"],
)  # fmt: skip
def test_distributed_dedup_equals_the_reference(stage, executor, tmp_path):
    rows = dedup_rows(2500, tmp_path)
    files = []
    for k in range(5):  # five shards of uneven size
        files.append(tmp_path / f"in-{k}.parquet")
        part = rows[k * 400 : (k + 1) * 400 if k < 4 else None]
        pq.write_table(pa.Table.from_pylist(part, schema=row_schema()), files[-1])
    store = Store(tmp_path / "store")
    runner = __import__("factory.pipeline.executors", fromlist=["x"]).make_executor(executor)
    stats = _run_stage(store, stage, "k", files, row_schema(), runner)
    step = read_entry(store, "k")
    drops = {
        d["id"]: (d["reason"], d["detail"])
        for f in step.drop_files
        for d in pq.read_table(store.root / f["path"]).to_pylist()
    }
    expected, want = (exact_decision if isinstance(stage, ExactDedup) else minhash_decision)(stage, rows)
    assert drops == expected and len(drops) > 20
    assert {k: v for k, v in stats["report"].items() if k != "seconds"} == want
    assert not (store.cache_path("k") / "data").exists(), "a dedup's cache entry copies no row"
    assert all(s.file.endswith(".parquet") and s.drops for s in step.shards if s.rows < 400)
    assert read_all(store.root, step.shards).num_rows == len(rows) - len(drops)


RECIPE = """
name: plane
sources:
  - {name: qa, path: "gen/qa-*.jsonl", adapter: medquad}
stages:
  - {type: normalize}
  - {type: length_filter, min_chars: 50}
  - {type: exact_dedup}
  - {type: minhash_dedup}
  - {type: to_chat}
outputs:
  sft: {format: messages, shard_rows: 700}
"""


def test_build_writes_shards_links_versions_and_references_drops(tmp_path, ray_session):
    generate(tmp_path / "gen", 3000, 3, seed=5)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    store = Store(tmp_path / "store")
    local = build(load_recipe(tmp_path / "recipe.yaml"), store, executor="local", reporter=QUIET)
    other = build(
        load_recipe(tmp_path / "recipe.yaml"), Store(tmp_path / "s2"), executor="ray", reporter=QUIET
    )
    m = local.manifest
    assert local.version_id == other.version_id
    files = [f["path"] for o in m["outputs"].values() for f in o["files"]] + [
        f["path"] for f in m["drop_log"]["files"]
    ]
    assert all((local.path / f).read_bytes() == (other.path / f).read_bytes() for f in files)  # fmt: skip
    assert [f["rows"] for f in m["outputs"]["sft"]["files"]][:-1] == [700] * (
        len(m["outputs"]["sft"]["files"]) - 1
    )
    # outputs and drops are hard links into the cache: nothing was copied to make the version
    assert all((local.path / f).stat().st_nlink == 2 for f in files)
    stages = {s["name"]: s for s in m["stages"]}
    assert (
        stages["length_filter"]["shards"] == 3
        and not (store.cache_path(stages["length_filter"]["key"]) / "data").exists()
    )
    assert (
        stages["minhash_dedup"]["dropped"]["near_duplicate"] > 50
        and stages["exact_dedup"]["dropped"]["exact_duplicate"] > 50
    )
    # each drop names the file it was read from and its row there
    drops = pq.read_table(local.path / "drops").to_pylist()
    for d in drops[:: max(1, len(drops) // 40)]:
        if d["stage"] == "source:qa":
            assert d["shard"].startswith("gen/qa-") and d["pos"] >= 0
        else:
            assert (
                pq.read_table(store.root / d["shard"], columns=["id"]).column("id")[d["pos"]].as_py()
                == d["id"]
            )
    # gc keeps what a version refers to, removes the rest, leaves the generation cache alone unless asked
    (store.root / "gen_cache").mkdir()
    changed = build(
        load_recipe(tmp_path / "recipe.yaml", ["stages.minhash_dedup.threshold=0.7"]),
        store,
        executor="local",
        reporter=QUIET,
    )
    import shutil

    shutil.rmtree(changed.path)
    report = collect(store)
    assert len(report["removed"]) == 3 and (store.root / "gen_cache").exists()  # minhash, to_chat, outputs
    again = build(load_recipe(tmp_path / "recipe.yaml"), store, executor="local", reporter=QUIET)
    assert again.reused
    shutil.rmtree(local.path)
    rebuilt = build(load_recipe(tmp_path / "recipe.yaml"), store, executor="local", reporter=QUIET)
    assert all(s["cached"] for s in rebuilt.manifest["stages"]) and rebuilt.manifest["outputs_step"]["cached"]
    assert collect(store, gen_cache=True)["removed"] == ["gen_cache"]  # fmt: skip


def test_fingerprints_are_memoised_by_file_stat(tmp_path):
    from factory.sources import fingerprint_source
    from factory.sources.config import SourceConfig

    generate(tmp_path, 200, 2, seed=1)
    cfg = SourceConfig(name="qa", path="qa-*.jsonl", adapter="medquad")
    memo: dict = {}
    first = fingerprint_source(cfg, tmp_path, memo)
    assert len(memo) == 2 and first["files"][0]["lines"] == 100
    for entry in memo.values():  # a memo hit is trusted: a planted hash shows it was not recomputed
        entry["xxh3_128"] = "0" * 32
    assert {f["xxh3_128"] for f in fingerprint_source(cfg, tmp_path, memo)["files"]} == {"0" * 32}
    with open(tmp_path / "qa-00001.jsonl", "a") as fh:
        fh.write("\n")
    again = fingerprint_source(cfg, tmp_path, memo)["files"]
    assert again[0]["xxh3_128"] == "0" * 32  # unchanged file: still the memo's
    assert again[1]["xxh3_128"] not in ("0" * 32, first["files"][1]["xxh3_128"]) and again[1]["lines"] == 101


@pytest.mark.parametrize(
    "params",
    [{"system_prompt": "You are Aloe."}, {}, {"system_prompt": "S", "use_explanation": False},
     {"system_prompt": "S", "mcqa_user_template": "Q: {{ question }}{% for l, t in options %} {{ l }}) {{ t }}{% endfor %}"}],
)  # fmt: skip
def test_to_chat_table_equals_rows(params):
    from factory.stages.chat import ToChat

    rng = random.Random(4)
    texts = fuzz(400, seed=4)
    rows = []
    for i in range(100):
        opts = [t or "x" for t in rng.sample(texts, rng.randint(2, 5))]
        rows.append(
            make_row(
                id=f"m{i}",
                source="m",
                kind="mcqa",
                question=texts[i] or "q",
                options=opts,
                answer_idx=rng.randrange(len(opts)),
                context=rng.choice([None, "", texts[i + 1]]),
                explanation=rng.choice([None, "", " ", texts[i + 2]]),
            )
        )
        rows.append(
            make_row(
                id=f"q{i}", source="q", kind="qa", question=texts[i + 3] or "q", answer=texts[i + 4] or "a"
            )
        )
        first = rng.choice(["system", "user"])
        turns = [{"role": first, "content": "c"}, {"role": "assistant", "content": texts[i]}][
            : rng.randint(0, 2)
        ]
        rows.append(make_row(id=f"c{i}", source="c", kind="chat", messages=turns))
        rows.append(
            make_row(
                id=f"p{i}", source="p", kind="preference", prompt=turns, chosen=turns, rejected=turns[:1]
            )
        )
        rows.append(make_row(id=f"t{i}", source="t", kind="text", text=texts[i]))
    stage = ToChat(**params)
    stage.setup()
    table = pa.Table.from_pylist(rows, schema=row_schema())
    want = pa.Table.from_pylist(stage.process_rows(rows), schema=with_drop_columns(row_schema()))
    assert stage.apply_table(table).to_pylist() == want.to_pylist()  # fmt: skip


@pytest.mark.parametrize("on", ["response", "all"])
def test_heuristic_filter_table_equals_rows(on, shared_data):
    from filters.clean.heuristics import HeuristicFilter

    recipe = load_recipe(ROOT / "recipes" / "medical_basic.yaml", [f"data_dir={shared_data}"])
    from factory.sources import load_source

    rows = []
    for src in recipe.sources:
        got = [
            r
            for r, _ in zip(load_source(src, recipe.data_path), range(1500), strict=False)
            if not r.get("_drop")
        ]
        rows += got
    rng = random.Random(6)
    words = "fever dose the of and chronic renal ΣΟΦΙΑ İstanbul ＦＵＬＬ ½ ³ 12 ## ...".split()
    for i in range(600):  # planted repetition, symbols, digits and odd letters
        text = " ".join(rng.choices(words, k=rng.randint(1, 80)))
        rows.append(
            make_row(
                id=f"x{i}", source="x", kind="qa", question="q?", answer=(text + "\n") * rng.randint(1, 3)
            )
        )
    stage = HeuristicFilter(on=on, ngram_min_words=10)
    table = pa.Table.from_pylist(rows, schema=row_schema())
    got = stage.apply_table(table).select(["id", "_drop", "_drop_detail"]).to_pylist()
    want = [
        {"id": r["id"], "_drop": r.get("_drop"), "_drop_detail": r.get("_drop_detail")}
        for r in heuristic_rows(stage, rows)
    ]
    assert got == want and sum(r["_drop"] is not None for r in got) > 50  # fmt: skip


def test_gc_command(tmp_path):
    import shutil
    import subprocess

    def factory(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "factory.cli.main", *args, "--store", str(tmp_path / "store")]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return out

    quickstart = str(ROOT / "recipes" / "quickstart.yaml")
    kept = Path(factory("build", quickstart).stdout.strip().splitlines()[-1])
    gone = Path(factory("build", quickstart, "--set", "stages.mix.seed=7").stdout.strip().splitlines()[-1])
    shutil.rmtree(gone)
    dry = factory("gc", "--dry-run")
    listed = dry.stdout.split()
    assert listed and all(p.startswith("cache/") for p in listed) and "would remove" in dry.stderr
    assert all((tmp_path / "store" / p).exists() for p in listed)
    assert factory("gc").stdout.split() == listed and not any((tmp_path / "store" / p).exists() for p in listed)
    assert "nothing to do" in factory("build", quickstart).stderr and (kept / "manifest.json").exists()
