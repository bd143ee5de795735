"""The runner and the store: accounting, caching, one-stage rebuilds, determinism, crashes, concurrency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from factory.errors import InputError
from factory.log import Reporter
from factory.pipeline.runner import build
from factory.recipe import load_recipe
from factory.storage.store import Store

QUIET = Reporter(quiet=True)

RECIPE = """
name: unit
system_prompt: You are a medical assistant.
sources:
  - name: qa
    path: qa.jsonl
    adapter: medquad
    licence: CC-BY-4.0
  - name: mc
    path: mc.jsonl
    adapter: medagents
    licence: MIT
stages:
  - type: normalize
  - type: length_filter
    min_chars: 25
  - type: language_id
  - type: threshold
    name: english
    column: lang
    allowed: [en]
    reason: not_english
  - type: exact_dedup
  - type: to_chat
outputs:
  sft: {format: messages, shard_rows: 7}
  preference: {format: preference}
"""


def qa_line(i, question, answer):
    return json.dumps(
        {
            "id": f"q{i}",
            "source": "demo",
            "subset": "s",
            "url": "",
            "focus": "f",
            "qtype": "t",
            "question": question,
            "answer": answer,
        }
    )


def mc_line(i, question, options, idx):
    return json.dumps(
        {
            "realidx": i,
            "question": question,
            "options": dict(zip("ABCD", options, strict=True)),
            "answer_idx": "ABCD"[idx],
            "answer": options[idx],
        }
    )


def write_inputs(folder: Path, n_qa: int = 30) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        qa_line(
            i,
            f"What are the common symptoms of condition number {i}?",
            f"Condition {i} usually causes fatigue, fever and a persistent cough.",
        )
        for i in range(n_qa)
    ]
    lines.append(
        qa_line(
            900,
            "What are the common symptoms of condition number 1?",
            "Condition 1 usually causes fatigue, fever and a persistent cough.",
        )
    )  # duplicate
    lines.append(
        qa_line(
            901,
            "¿Cuáles son los síntomas más comunes de la gripe estacional?",
            "La fiebre, la tos y el cansancio son los síntomas más frecuentes.",
        )
    )
    lines.append(qa_line(902, "Why?", "No."))  # too short
    lines.append(qa_line(903, "What is a guide to clinical trials?", ""))  # empty answer: adapter drop
    (folder / "qa.jsonl").write_text("\n".join(lines) + "\n")
    mc = [
        mc_line(
            i,
            f"A patient with finding {i} most likely has which condition?",
            ["Asthma", "Gout", "Anemia", "Migraine"],
            i % 4,
        )
        for i in range(12)
    ]
    (folder / "mc.jsonl").write_text("\n".join(mc) + "\n")


@pytest.fixture
def project(tmp_path):
    write_inputs(tmp_path)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    return tmp_path


def all_ids(folder: Path, name: str) -> list[str]:
    return pq.read_table(folder / name, columns=["id"]).column("id").to_pylist()


def file_hashes(manifest: dict) -> dict[str, str]:
    out = {f["path"]: f["sha256"] for o in manifest["outputs"].values() for f in o["files"]}
    out.update({f["path"]: f["sha256"] for f in manifest["drop_log"]["files"]})
    return out


def test_build_accounts_for_every_row(project, executor):
    recipe = load_recipe(project / "recipe.yaml")
    res = build(recipe, Store(project / "store"), executor=executor, reporter=QUIET)
    m = res.manifest
    kept, dropped = all_ids(res.path, "sft"), all_ids(res.path, "drops")
    assert len(kept) + len(dropped) == 34 + 12 == m["totals"]["rows_in"]
    assert len(set(kept) | set(dropped)) == 46 and not set(kept) & set(dropped)
    drops = pq.read_table(res.path / "drops").to_pylist()
    reasons = {d["id"]: (d["stage"], d["reason"]) for d in drops}
    assert reasons == {
        "qa:s:q903": ("source:qa", "empty_answer"),
        "qa:s:q902": ("length_filter", "too_short"),
        "qa:s:q901": ("english", "not_english"),
        "qa:s:q900": ("exact_dedup", "exact_duplicate"),
    }
    assert next(d for d in drops if d["id"] == "qa:s:q900")["detail"] == "duplicate_of=qa:s:q1"
    assert json.loads(next(d for d in drops if d["id"] == "qa:s:q902")["row"])["question"] == "Why?"
    for stage in m["stages"]:
        assert stage["rows_in"] == stage["rows_out"] + sum(stage["dropped"].values())
        assert stage["cached"] is False and stage["wall_s"] >= 0 and stage["key"]
    assert [s["name"] for s in m["stages"]] == [
        "normalize",
        "length_filter",
        "language_id",
        "english",
        "exact_dedup",
        "to_chat",
    ]
    assert m["outputs"]["sft"]["rows"] == 42 and len(m["outputs"]["sft"]["files"]) == 6  # shard_rows 7
    assert m["outputs"]["preference"]["rows"] == 0
    assert {s["name"]: s["rows_read"] for s in m["sources"]} == {"qa": 34, "mc": 12}
    assert (
        m["sources"][0]["licence"] == "CC-BY-4.0" and m["sources"][0]["fingerprint"]["files"][0]["bytes"] > 0
    )
    assert m["recipe"]["name"] == "unit" and m["executor"] == executor
    sft = pq.read_table(res.path / "sft").to_pylist()
    assert sft[0]["messages"][0] == {"role": "system", "content": "You are a medical assistant."}
    assert "lang" in sft[0] and sft[0]["kind"] in ("qa", "mcqa")
    assert (res.path / "recipe.yaml").exists()


def test_rebuild_is_free_and_one_stage_change_reruns_only_downstream(project):
    store = Store(project / "store")
    first = build(load_recipe(project / "recipe.yaml"), store, executor="local", reporter=QUIET)
    again = build(load_recipe(project / "recipe.yaml"), store, executor="local", reporter=QUIET)
    assert again.reused and again.version_id == first.version_id

    changed = build(
        load_recipe(project / "recipe.yaml", ["stages.length_filter.min_chars=60"]),
        store,
        executor="local",
        reporter=QUIET,
    )
    assert changed.version_id != first.version_id
    cached = {s["name"]: s["cached"] for s in changed.manifest["stages"]}
    assert cached == {
        "normalize": True,
        "length_filter": False,
        "language_id": False,
        "english": False,
        "exact_dedup": False,
        "to_chat": False,
    }
    assert all(s["cached"] for s in changed.manifest["sources"])

    # Removing a version keeps the cache: rebuilding it does no stage work and gives the same bytes.
    import shutil

    shutil.rmtree(first.path)
    rebuilt = build(load_recipe(project / "recipe.yaml"), store, executor="local", reporter=QUIET)
    assert rebuilt.version_id == first.version_id and not rebuilt.reused
    assert all(s["cached"] for s in rebuilt.manifest["stages"])
    assert file_hashes(rebuilt.manifest) == file_hashes(first.manifest)


def test_same_inputs_same_id_and_bytes_across_stores_and_executors(project, ray_session):
    a = build(load_recipe(project / "recipe.yaml"), Store(project / "s1"), executor="local", reporter=QUIET)
    b = build(load_recipe(project / "recipe.yaml"), Store(project / "s2"), executor="ray", reporter=QUIET)
    assert a.version_id == b.version_id
    assert file_hashes(a.manifest) == file_hashes(b.manifest)
    for rel in file_hashes(a.manifest):
        assert (a.path / rel).read_bytes() == (b.path / rel).read_bytes()


def test_source_change_changes_version(project):
    store = Store(project / "store")
    a = build(load_recipe(project / "recipe.yaml"), store, executor="local", reporter=QUIET)
    with open(project / "mc.jsonl", "a") as fh:
        fh.write(
            mc_line(
                99,
                "A new question about a patient with a rash and fever?",
                ["Measles", "Gout", "Asthma", "Flu"],
                0,
            )
            + "\n"
        )
    b = build(load_recipe(project / "recipe.yaml"), store, executor="local", reporter=QUIET)
    assert a.version_id != b.version_id
    assert {s["name"]: s["cached"] for s in b.manifest["sources"]} == {"qa": True, "mc": False}
    assert b.manifest["totals"]["rows_in"] == a.manifest["totals"]["rows_in"] + 1


def test_bad_input_fails_with_file_line_field_or_is_logged(project):
    with open(project / "qa.jsonl", "a") as fh:
        fh.write('{"id": "bad", "question": "unterminated\n')
        fh.write(json.dumps({"id": "nq", "answer": "an answer without a question"}) + "\n")
    with pytest.raises(InputError) as info:
        build(
            load_recipe(project / "recipe.yaml"), Store(project / "store"), executor="local", reporter=QUIET
        )
    msg = str(info.value)
    assert "qa.jsonl:35" in msg and "source 'qa'" in msg and "on_error: skip" in msg
    assert not list((project / "store" / "versions").iterdir())

    res = build(
        load_recipe(project / "recipe.yaml", ["sources.qa.on_error=skip"]),
        Store(project / "store"),
        executor="local",
        reporter=QUIET,
    )
    bad = [d for d in pq.read_table(res.path / "drops").to_pylist() if d["reason"] == "bad_input"]
    assert len(bad) == 2
    assert (
        "qa.jsonl:35" in bad[0]["detail"]
        and "qa.jsonl:36" in bad[1]["detail"]
        and "question" in bad[1]["detail"]
    )
    assert res.manifest["totals"]["rows_in"] == 48


BIG_RECIPE = """
name: big
sources:
  - {name: qa, path: qa.jsonl, adapter: medquad}
stages:
  - {type: normalize}
  - {type: length_filter, min_chars: 10}
  - {type: language_id}
  - {type: exact_dedup}
  - {type: to_chat}
outputs:
  sft: {format: messages}
"""


def _build_cmd(folder: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "factory.cli.main",
        "build",
        str(folder / "recipe.yaml"),
        "--store",
        str(folder / "store"),
        "--executor",
        "local",
    ]


def _big_project(folder: Path, n: int) -> None:
    write_inputs(folder, n_qa=n)
    (folder / "recipe.yaml").write_text(BIG_RECIPE)


def test_killed_build_leaves_no_version_and_resumes_from_cache(tmp_path):
    _big_project(tmp_path, 60_000)
    proc = subprocess.Popen(_build_cmd(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cache = tmp_path / "store" / "cache"
    deadline = time.time() + 120
    while time.time() < deadline and (not cache.exists() or len(list(cache.iterdir())) < 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list(cache.iterdir()))
    assert finished >= 2, "the build should have finished the source and a stage before the kill"
    assert not list((tmp_path / "store" / "versions").iterdir()), "a killed build must not leave a version"
    for entry in cache.iterdir():
        assert (entry / "stats.json").exists(), "cache entries appear only when complete"

    out = subprocess.run(_build_cmd(tmp_path), capture_output=True, text=True, check=True)
    version = Path(out.stdout.strip().splitlines()[-1])
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["sources"][0]["cached"] is True
    assert sum(s["cached"] for s in manifest["stages"]) >= finished - 1
    assert not any(p for p in (tmp_path / "store" / "tmp").iterdir()), "stale tmp folders are cleaned"


def test_two_concurrent_builds_on_one_store(tmp_path):
    _big_project(tmp_path, 3000)
    procs = [
        subprocess.Popen(_build_cmd(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {o[0].strip().splitlines()[-1] for o in outs}
    assert len(paths) == 1
    versions = list((tmp_path / "store" / "versions").iterdir())
    assert len(versions) == 1
    manifest = json.loads((versions[0] / "manifest.json").read_text())
    for f in manifest["outputs"]["sft"]["files"]:
        assert (versions[0] / f["path"]).stat().st_size == f["bytes"]
    assert pq.read_table(versions[0] / "sft").num_rows == manifest["outputs"]["sft"]["rows"]
    assert os.listdir(tmp_path / "store" / "tmp") == []


def test_outputs_naming_sources_take_their_rows_first(project, executor):
    """`outputs.<name>.sources`: that output gets the rows of those sources, whatever its place in the
    recipe; the others share the rest; nothing is counted twice or lost."""
    text = RECIPE.replace(
        "  sft: {format: messages, shard_rows: 7}\n",
        "  sft: {format: messages, shard_rows: 7}\n  sft_mc: {format: messages, sources: [mc]}\n",
    )
    (project / "recipe.yaml").write_text(text)
    res = build(
        load_recipe(project / "recipe.yaml"), Store(project / "store"), executor=executor, reporter=QUIET
    )
    sources = {
        name: {
            r["source"]
            for f in sorted((res.path / name).glob("*.parquet"))
            for r in pq.read_table(f).to_pylist()
        }
        for name in ("sft", "sft_mc")
    }
    assert sources == {"sft": {"qa"}, "sft_mc": {"mc"}}
    counts = {name: o["rows"] for name, o in res.manifest["outputs"].items()}
    totals = res.manifest["totals"]
    assert counts["sft"] > 0 and counts["sft_mc"] > 0
    assert (
        sum(counts.values()) == totals["rows_out"]
        and totals["rows_in"] == totals["rows_out"] + totals["rows_dropped"]
    )
