"""The two generation backends against real engines: vLLM through ``ray.data.llm`` on CPU (``vllm-cpu``)
and the OpenAI-compatible HTTP client against vLLM's own server, both on a tiny random model.

GPU-only settings are checked where they land (the processor and engine-stage config Ray Data builds),
since no GPU is needed to build them; the vLLM tests skip when vLLM is not installed."""

from __future__ import annotations

import time

import pytest
from tiny_models import free_port, tiny_model_dir, vllm_cpu_env

from factory.errors import StageError
from factory.pipeline import build
from factory.recipe import load_recipe
from factory.rows import make_row
from factory.store import Store
from factory.testing import run_stage
from synth.backends.openai_http import OpenAIRunner
from synth.backends.vllm_ray import VLLMRayRunner, processor_kwargs, sub_seed
from synth.cache import cache_file
from synth.generate import Generate
from synth.generation import OpenAIBackend, Request, SamplingConfig, VLLMBackend

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


# -- vLLM through ray.data.llm ------------------------------------------------------------------------------


def test_gpu_settings_reach_the_engine_config_untouched(tmp_path, ray_session):
    """Built from a recipe, without a GPU: the settings are in the engine stage Ray Data would start."""
    pytest.importorskip("ray.data.llm")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(GPU_RECIPE.format(model=tiny_model_dir("llama")))
    stage = load_recipe(recipe).stages[0]
    runner = VLLMRayRunner(stage.resolved_backend())
    config = runner.processor_config()
    expected = {
        "tensor_parallel_size": 4,
        "pipeline_parallel_size": 2,
        "gpu_memory_utilization": 0.85,
        "max_model_len": 8192,
        "dtype": "bfloat16",
        "enable_prefix_caching": True,
        "max_num_seqs": 128,
        "quantization": "fp8",
    }
    assert {k: config.engine_kwargs[k] for k in expected} == expected
    assert config.accelerator_type == "H100" and config.concurrency == 3 and config.batch_size == 32
    assert config.placement_group_config["bundle_per_worker"] == {"GPU": 1, "CPU": 2}
    assert config.placement_group_config["strategy"] == "SPREAD"

    engine = runner.build().get_stage_by_name("vLLMEngineStage")
    kwargs = engine.fn_constructor_kwargs["engine_kwargs"]
    assert {k: kwargs[k] for k in expected} == expected
    assert kwargs["distributed_executor_backend"] == "ray"  # tp * pp > 1
    assert engine.map_batches_kwargs["accelerator_type"] == "H100"
    assert engine.map_batches_kwargs["compute"].max_size == 3
    n_workers, accelerator, placement = engine.map_batches_kwargs["ray_remote_args_fn"].args
    assert (n_workers, accelerator) == (8, "H100")
    assert placement["bundles"] == [{"GPU": 1, "CPU": 2}] * 8 and placement["strategy"] == "SPREAD"


def test_cpu_accelerator_swaps_only_the_placement():
    cpu = processor_kwargs(VLLMBackend(model="m", accelerator="cpu", cpus_per_engine=1.5))
    gpu = processor_kwargs(VLLMBackend(model="m"))
    assert cpu["placement_group_config"] == {"bundles": [{"CPU": 1.5}]}
    assert gpu["placement_group_config"] is None  # Ray Data's default: one GPU per engine worker
    for key in ("tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization", "dtype"):
        assert cpu["engine_kwargs"][key] == gpu["engine_kwargs"][key]
    assert "kv_cache_memory_bytes" not in gpu["engine_kwargs"]
    assert [sub_seed(5, j) for j in range(3)][0] == 5 and len({sub_seed(5, j) for j in range(50)}) == 50


def test_vllm_ray_backend_runs_a_recipe_on_cpu(tmp_path, ray_session, monkeypatch):
    pytest.importorskip("vllm")
    for name, value in vllm_cpu_env(tmp_path / "scratch").items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "data"
    data.mkdir()
    questions = [f"Case {i}: a child with wheezing. Next step?" for i in range(12)]
    (data / "prompts.jsonl").write_text(
        "".join(f'{{"id": {i}, "question": "{q}"}}\n' for i, q in enumerate(questions))
    )
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"""\
name: vllm_cpu
data_dir: {data}
sources:
  - {{name: prompts, path: prompts.jsonl, adapter: fields, kind: prompt, fields: {{id: id, question: question}}}}
stages:
  - type: generate
    prompt: "{{{{ question }}}}"
    output_column: candidates
    retry_empty: false
    sampling: {{max_tokens: 12, n: 2, temperature: 1.0, seed: 7}}
    backend:
      kind: vllm
      model: {tiny_model_dir("llama")}
      accelerator: cpu
      dtype: float32
      max_model_len: 256
      batch_size: 8
      engine_kwargs: {{enforce_eager: true}}
outputs:
  rows: {{format: rows}}
"""
    )
    store = Store(tmp_path / "store")
    result = build(load_recipe(recipe), store, executor="ray")
    rows = result.manifest["outputs"]["rows"]["rows"]
    assert rows == 12
    from factory.pipeline import read_output

    table = read_output(result.path, "rows").to_pylist()
    assert all(len(r["candidates"]) == 2 for r in table)
    assert sum(r["candidates"][0] != r["candidates"][1] for r in table) >= 10  # two seeds, two answers
    report = result.manifest["stages"][0]["report"]
    assert report["requests"] == {"unique": 12, "cached": 0, "sent": 12, "failed": 0}
    assert report["backend_stats"]["rows"] == 24  # n = 2: two engine rows per request

    # A changed stage (new column name) reruns, with every answer from the request cache: no engine start.
    again = build(load_recipe(recipe, ["stages.generate.output_column=answers"]), store, executor="ray")
    report = again.manifest["stages"][0]["report"]
    assert report["requests"] == {"unique": 12, "cached": 12, "sent": 0, "failed": 0}
    assert read_output(again.path, "rows").column("answers").to_pylist() == [r["candidates"] for r in table]
    assert cache_file(store.root / "gen_cache", "x").parent.is_dir()


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
    stage = Generate(backend=backend, prompt="{{ question }}", max_attempts=2)
    kept, drops, stats = run_stage(stage, rows, "local", store_dir=tmp_path)
    assert kept == [] and [d["reason"] for d in drops] == ["request_failed"] * 4
    assert "Connect" in drops[0]["detail"]
    assert stats["report"]["requests"] == {"unique": 8, "cached": 0, "sent": 8, "failed": 8}
    with pytest.raises(StageError, match="a rerun sends only the missing requests"):
        run_stage(Generate(backend=backend, prompt="{{ question }}", on_request_error="fail"), rows, "local")
