"""The generation core: request cache (concurrent writers, kill -9), the attempt loop, the generic
``generate`` stage, and a build killed mid-generation that restarts without paying twice.

Requests go to a real vLLM OpenAI server on a tiny random model (``tiny_models.tiny_server``), started
once per session; tests that need it skip when vLLM is not installed."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pytest
from tests_paths import ROOT

from factory.llm.cache import RequestCache, cache_file, request_key
from factory.llm.stage import GenerationStage
from factory.llm.types import OpenAIBackend, Request, Response, Retry, SamplingConfig
from factory.rows import make_row
from factory.testing import run_stage
from synth.generate import Generate

KEY_ENV = "TINY_SERVER_KEY"  # set by the `server` fixture (conftest)


def backend(srv, **kw) -> OpenAIBackend:
    return OpenAIBackend(base_url=srv.base_url, model=srv.model, api_key_env=KEY_ENV, **kw)


def prompt(i: int, question: str, **kw) -> dict[str, Any]:
    return make_row(id=f"p:{i}", source="p", kind="prompt", question=question, **kw)


def cached_requests(store: Path, model: str) -> list[dict[str, Any]]:
    """Every cached request of the model served as ``model`` (one cache file per served model)."""
    (path,) = (store / "gen_cache").glob(f"{model}-*.sqlite")
    with sqlite3.connect(path) as db:
        return [json.loads(r[0]) for r in db.execute("SELECT request FROM answers")]


# -- the cache ----------------------------------------------------------------------------------------


def test_request_key_covers_model_messages_and_sampling():
    msgs = [{"role": "user", "content": "What is asthma?"}]
    base = Request("r1", msgs, SamplingConfig(seed=3))
    key = request_key("m", base)
    assert request_key("m", Request("other-row", msgs, SamplingConfig(seed=3), tag="t")) == key
    assert request_key("m2", base) != key
    assert request_key("m", Request("r1", msgs, SamplingConfig(seed=4))) != key
    assert request_key("m", Request("r1", msgs, SamplingConfig(seed=3, temperature=0.1))) != key
    assert (
        request_key("m", Request("r1", [{"role": "user", "content": "What is gout?"}], base.sampling)) != key
    )


def test_logprobs_are_asked_keyed_parsed_and_cached(tmp_path):
    """A request that asks for logprobs has its own key (one that asks none keeps the key it always had); an
    OpenAI-format answer's ``logprobs.content`` becomes ``(token, top)`` per token (impossible tokens out, the
    sampled one kept); the cache returns them with the answer."""
    from factory.hashing import stable_hash
    from factory.llm.backends.openai_http import parse_completion, request_body

    msgs = [{"role": "user", "content": "Rate it 1-6."}]
    plain = Request("r1", msgs, SamplingConfig(seed=3))
    asks = Request("r1", msgs, SamplingConfig(seed=3), logprobs=5)
    old_key = stable_hash({"model": "m", "messages": msgs, "sampling": plain.sampling.model_dump()}, length=32)
    assert request_key("m", plain) == old_key and request_key("m", asks) != old_key
    body = request_body("m", asks)
    assert (body["logprobs"], body["top_logprobs"]) == (True, 5) and "logprobs" not in request_body("m", plain)

    content = [{"token": "4", "logprob": -0.4, "top_logprobs": [
        {"token": "4", "logprob": -0.4}, {"token": "5", "logprob": -1.3}, {"token": "x", "logprob": -9999.0}]},
        {"token": "!", "logprob": -7.0, "top_logprobs": [{"token": ".", "logprob": -0.1}]}]  # fmt: skip
    data = {"model": "m", "choices": [{"index": 0, "message": {"content": "4!"}, "finish_reason": "stop",
                                       "logprobs": {"content": content}}]}  # fmt: skip
    answer = parse_completion(data, "m")
    assert answer.logprobs == [[("4", {"4": -0.4, "5": -1.3}), ("!", {".": -0.1, "!": -7.0})]]
    del data["choices"][0]["logprobs"]
    assert parse_completion(data, "m").logprobs is None  # a server that returns none

    cache = RequestCache(tmp_path, "m")
    cache.put(request_key("m", asks), answer, asks)
    cache.put(request_key("m", plain), Response(["4"], "m", ["stop"]), plain)
    got = cache.get_many([request_key("m", asks), request_key("m", plain)])
    assert got[request_key("m", asks)].logprobs == answer.logprobs
    assert got[request_key("m", plain)].logprobs is None
    with sqlite3.connect(cache.path) as db:  # the answers table keeps the columns it always had
        assert [r[1] for r in db.execute("PRAGMA table_info(answers)")] == [
            "key", "model", "texts", "finish_reasons", "request", "created"]  # fmt: skip
        assert json.loads(db.execute("SELECT request FROM answers WHERE texts LIKE '%4!%'").fetchone()[0])[
            "logprobs"] == 5  # fmt: skip


def _writer(folder: str, start: int, count: int) -> None:
    cache = RequestCache(Path(folder), "model")
    for i in range(start, start + count):
        cache.put(f"k{i}", Response([f"answer {i}"], "model", ["stop"]))
    cache.close()


def test_cache_takes_concurrent_writers(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 300 * w, 300)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = RequestCache(tmp_path, "model")
    assert cache.count() == 900
    got = cache.get_many([f"k{i}" for i in range(0, 900, 7)] + ["missing"])
    assert len(got) == len(range(0, 900, 7)) and got["k7"].texts == ["answer 7"] and got["k7"].cached
    assert not cache.put("k7", Response(["other"], "model", ["stop"]))  # first answer wins
    with pytest.raises(ValueError):
        cache.put("k-err", Response([], "model", [], error="boom"))


def test_cache_survives_kill_9(tmp_path):
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[2])\n"
        "from factory.llm.cache import RequestCache; from factory.llm.types import Response\n"
        "c = RequestCache(Path(sys.argv[1]), 'model')\n"
        "i = 0\n"
        "while True:\n"
        "    c.put(f'k{i}', Response(['x' * 2000, str(i)], 'model', ['stop', 'length'])); i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(ROOT)])
    path = cache_file(tmp_path, "model")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if path.exists() and RequestCache(tmp_path, "model").count() > 200:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cache = RequestCache(tmp_path, "model")
    n = cache.count()
    assert n > 200
    got = cache.get_many([f"k{i}" for i in range(n)])
    assert len(got) == n and all(got[f"k{i}"].texts == ["x" * 2000, str(i)] for i in range(n))


# -- the attempt loop -----------------------------------------------------------------------------------


class FlakyGen(GenerationStage):
    """Test stage: a row is accepted on attempt ``meta.ok_on`` (0-based); ``subject == 'skip'`` rows pass."""

    type: Literal["test_flaky_gen"] = "test_flaky_gen"

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {
            "attempt_texts": pa.list_(pa.string()),
            "attempts_used": pa.int32(),
        }

    seen: ClassVar[dict[str, list[str]]] = {}

    def build_requests(self, row, attempt):
        if row["subject"] == "skip":
            return None
        return [self.request(row, [{"role": "user", "content": row["question"]}])]

    def parse(self, row, responses, attempt):
        texts = self.seen.setdefault(row["id"], [])
        texts.append(responses[0].texts[0])
        if attempt < json.loads(row["meta"])["ok_on"]:
            return Retry("not_yet", f"attempt {attempt}")
        return {**row, "attempt_texts": texts, "attempts_used": attempt + 1}


def test_attempt_loop_retries_with_new_seeds_then_drops(server, executor, tmp_path):
    rows = [
        prompt(i, f"Question number {i} about the heart?", meta={"ok_on": k})
        for i, k in enumerate([0, 1, 2, 5])
    ]
    rows.append(prompt(9, "untouched", subject="skip", meta={"ok_on": 0}))
    stage = FlakyGen(
        backend=backend(server, max_concurrency=4),
        sampling=SamplingConfig(temperature=1.0, max_tokens=16, seed=11),
        max_attempts=3,
    )
    before = server.settled_count(quiet_s=0.2)
    kept, drops, stats = run_stage(stage, rows, executor, store_dir=tmp_path)
    sent = server.settled_count(quiet_s=0.5) - before

    by_id = {r["id"]: r for r in kept}
    assert sorted(by_id) == ["p:0", "p:1", "p:2", "p:9"]
    assert [by_id[f"p:{i}"]["attempts_used"] for i in range(3)] == [1, 2, 3]
    assert by_id["p:9"]["attempt_texts"] is None  # passed untouched
    assert len(set(by_id["p:2"]["attempt_texts"])) == 3  # a new seed each attempt: new answers
    assert [(d["id"], d["reason"], d["detail"]) for d in drops] == [("p:3", "not_yet", "attempt 2")]
    assert stats["rows_in"] == 5 and stats["rows_out"] == 4 and stats["dropped"] == {"not_yet": 1}
    report = stats["report"]
    assert report["rows_by_attempt"] == {"1": 1, "2": 1, "3": 1}
    assert report["retry_reasons"] == {"not_yet": 6} and report["rows_out_of_attempts"] == 1
    assert report["requests"] == {"unique": 9, "cached": 0, "sent": 9, "failed": 0}
    assert sent == 9
    seeds = sorted(r["sampling"]["seed"] for r in cached_requests(tmp_path, server.model)
                   if r["messages"][0]["content"].startswith("Question number 2"))  # fmt: skip
    assert seeds == [11, 12, 13]

    # Same stage again on the same store: every answer comes from the cache, the outcome is identical.
    FlakyGen.seen = {}
    before = server.settled_count(quiet_s=0.2)
    kept2, drops2, stats2 = run_stage(stage, rows, executor, store_dir=tmp_path)
    assert server.settled_count(quiet_s=0.3) == before
    assert stats2["report"]["requests"] == {"unique": 9, "cached": 9, "sent": 0, "failed": 0}
    assert kept2 == kept and drops2 == drops
    FlakyGen.seen = {}


def test_streaming_chunks_keep_input_order_and_join_identical_requests(server, tmp_path):
    """Rows read two at a time, retries interleaved with the next chunk's first tries: every row comes out
    once and in input order; a request two rows share is sent once; answers reach the cache in batches."""
    rows = [prompt(i, f"Question number {i % 5} about the lungs?", meta={"ok_on": i % 3}) for i in range(11)]
    stage = FlakyGen(
        backend=backend(server, max_concurrency=3),
        sampling=SamplingConfig(temperature=1.0, max_tokens=8, seed=1),
        max_attempts=3,
        chunk_rows=2,
    )
    kept, drops, stats = run_stage(stage, rows, "local", store_dir=tmp_path)
    assert [r["id"] for r in kept] == [f"p:{i}" for i in range(11)] and drops == []
    assert [r["attempts_used"] for r in kept] == [i % 3 + 1 for i in range(11)]
    # 5 distinct questions, each asked up to the last attempt one of its rows needs: 13 requests sent;
    # a later row asking the same gets the answer from this run (in flight, not yet written, or cached)
    report = stats["report"]
    assert report["requests"]["sent"] == 3 + 2 + 3 + 3 + 2 and report["requests"]["failed"] == 0
    assert report["requests"]["unique"] == report["requests"]["sent"] + report["requests"]["cached"]
    assert report["rows_by_attempt"] == {"1": 4, "2": 4, "3": 3} and report["first_answer_s"] > 0
    assert len(cached_requests(tmp_path, server.model)) == report["requests"]["sent"]
    FlakyGen.seen = {}


# -- the generic generate stage --------------------------------------------------------------------------


def test_generate_renders_templates_and_writes_columns(server, tmp_path):
    rows = [
        prompt(0, "What causes gout?", subject="rheumatology"),
        prompt(1, "How is asthma treated?", subject="pulmonology"),
        make_row(
            id="m:0",
            source="m",
            kind="mcqa",
            question="Pick one",
            options=["Aspirin", "Heparin"],
            answer_idx=0,
        ),
    ]
    stage = Generate(
        backend=backend(server),
        system="You answer {{ subject }} questions briefly.",
        prompt="Q: {{ question }}",
        output_column="answer",
        model_column="teacher",
        set_kind="qa",
        sampling=SamplingConfig(max_tokens=12),
        apply_to={"kinds": ["prompt"]},
    )
    kept, drops, stats = run_stage(stage, rows, "local", store_dir=tmp_path)
    kept_ids = {r["id"] for r in kept} | {d["id"] for d in drops}
    assert kept_ids == {"p:0", "p:1", "m:0"}
    by_id = {r["id"]: r for r in kept}
    assert by_id["m:0"]["kind"] == "mcqa" and by_id["m:0"].get("teacher") is None  # not selected: untouched
    for r in kept:
        if r["id"].startswith("p:"):
            assert (
                r["kind"] == "qa" and isinstance(r["answer"], str) and r["answer"] and r["teacher"] == "tiny"
            )
    sent = {
        r["messages"][1]["content"]: r["messages"][0]["content"] for r in cached_requests(tmp_path, "tiny")
    }
    assert sent == {
        "Q: What causes gout?": "You answer rheumatology questions briefly.",
        "Q: How is asthma treated?": "You answer pulmonology questions briefly.",
    }
    assert stats["report"]["rows_passed"] == 1

    several = Generate(
        backend=backend(server),
        prompt="{{ question }}\n{% for o in options %}{{ labels[loop.index0] }}. {{ o }}\n{% endfor %}",
        output_column="candidates",
        sampling=SamplingConfig(max_tokens=8, n=3, temperature=1.0),
        apply_to={"kinds": ["mcqa"]},
    )
    assert several.adds == {"candidates": pa.list_(pa.string())}
    kept, _, _ = run_stage(several, rows, "local", store_dir=tmp_path)
    mcqa = next(r for r in kept if r["id"] == "m:0")
    assert len(mcqa["candidates"]) == 3
    asked = [r for r in cached_requests(tmp_path, "tiny") if r["sampling"]["n"] == 3]
    assert asked[0]["messages"] == [{"role": "user", "content": "Pick one\nA. Aspirin\nB. Heparin\n"}]


def test_generate_params_are_checked():
    with pytest.raises(ValueError, match="exactly one"):
        Generate(backend={"kind": "openai", "base_url": "http://x/v1", "model": "m"})
    with pytest.raises(ValueError, match="canonical column"):
        Generate(
            backend={"kind": "openai", "base_url": "http://x/v1", "model": "m"},
            prompt="x",
            output_column="question",
        )
    with pytest.raises(ValueError, match="engine_kwargs"):
        Generate(
            backend={"kind": "vllm", "model": "m", "engine_kwargs": {"tensor_parallel_size": 2}}, prompt="x"
        )


# -- kill a build mid-generation, restart it ---------------------------------------------------------------

RECIPE = """\
name: crash_restart
data_dir: {data}
sources:
  - name: prompts
    path: prompts.jsonl
    adapter: fields
    kind: prompt
    fields: {{id: id, question: question}}
stages:
  - type: generate
    backend: {{kind: openai, base_url: "{url}", model: tiny, api_key_env: {env}, max_concurrency: 2, qps: 6}}
    prompt: "{{{{ question }}}}"
    output_column: answer
    set_kind: qa
    sampling: {{max_tokens: 8, temperature: 0.8}}
  - type: to_chat
outputs:
  sft: {{format: messages}}
"""


def test_killed_build_resends_only_unanswered_requests(server, tmp_path):
    n_rows = 40
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "prompts.jsonl", "w") as fh:
        for i in range(n_rows):
            fh.write(
                json.dumps({"id": i, "question": f"Patient {i} has a cough and fever. What next?"}) + "\n"
            )
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(data=data, url=server.base_url, env=KEY_ENV))
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "factory.cli.main", "build", str(recipe), "--store", str(store)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cache_dir = store / "gen_cache"

    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    answered = 0
    while time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.1)
        found = list(cache_dir.glob("tiny-*.sqlite"))
        if found:
            db = found[0]
            try:
                with sqlite3.connect(db) as con:
                    answered = con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            except sqlite3.OperationalError:  # created, table not there yet
                continue
            if answered >= 8:
                break
    assert first.poll() is None, first.communicate()[1][-3000:]
    first.send_signal(signal.SIGKILL)
    out1, err1 = first.communicate()
    served_before = server.settled_count(quiet_s=1.5)
    with sqlite3.connect(db) as con:
        cached = con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    assert 8 <= cached < n_rows
    assert not list((store / "versions").glob("*/manifest.json"))

    # Restart (with a faster pace: not part of any request key, so the answers still count).
    second = subprocess.run(
        [*cmd, "--set", "stages.generate.backend.qps=100"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert server.settled_count(quiet_s=1.0) - served_before == n_rows - cached
    version = Path(second.stdout.strip().splitlines()[-1])
    manifest = json.loads((version / "manifest.json").read_text())
    gen = next(s for s in manifest["stages"] if s["name"] == "generate")
    assert gen["report"]["requests"] == {
        "unique": n_rows,
        "cached": cached,
        "sent": n_rows - cached,
        "failed": 0,
    }
    assert manifest["outputs"]["sft"]["rows"] + manifest["totals"]["rows_dropped"] == n_rows
    assert gen["report"]["backend"] == {"kind": "openai", "model": "tiny", "base_url": server.base_url}

    # The API key reached the server (it refuses requests without it) but no file or log of the build.
    secret = server.api_key.encode()
    for path in store.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
    for text in (out1, err1, second.stdout.encode(), second.stderr.encode()):
        assert secret not in text
