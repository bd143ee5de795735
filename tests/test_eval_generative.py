"""The generative evaluations end to end with the real local model (SmolLM2-135M-Instruct) served by vLLM's
OpenAI-compatible server, on real benchmark items:

- a dataset version with verified CoT rows is built by the factory itself (the ``cot`` stage on real
  MedMCQA training rows, the same local model as teacher), and is Medprompt's example database;
- Medprompt / CoT / zero-shot: every run's reading, the vote and the accuracy are recomputed here from the
  logged texts and the raw benchmark files;
- open-ended: verdicts re-read from the judge's logged text; the judge is named;
- safety under attack: ASR per style recomputed from the logged guard texts, a prompt the model was
  trained on (wrapped in a template) is left out;
- the CLI (`factory eval medprompt | open-ended | attack`), and `factory eval compare`.
The model is weak: these tests check plumbing and accounting, never accuracy.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from tiny_models import Server, free_port, vllm_cpu_env

from factory.mcqa.options import OPTION_LABELS
from synth.cot import parse_answer
from synth.judge import parse_guard
from train.config import EvalSpec
from train.eval.benchmarks import MCQA_DEFAULTS, is_refusal, load_docs
from train.eval.openended import parse_verdict
from train.eval.specs import GenerativeSpec

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow
LIMIT = 3


@pytest.fixture(scope="module")
def smol(tmp_path_factory) -> Server:
    """vLLM's OpenAI server on the local model, served as ``smollm2`` (4k context), for this module."""
    from factory.llm.models import resolve_model

    model = resolve_model("smollm2-135m")
    scratch = tmp_path_factory.mktemp("smol-server")
    port = free_port()
    log = scratch / "server.log"
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
        "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
        "--max-model-len", "4096", "--enforce-eager", "--no-enable-chunked-prefill", "--max-num-seqs", "32",
        "--distributed-executor-backend", "uni",
    ]  # fmt: skip
    env = {**vllm_cpu_env(scratch), "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(proc, f"http://127.0.0.1:{port}/v1", "smollm2", "", log)
    atexit.register(server.stop)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-4000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    yield server
    server.stop()


def _backend(server: Server) -> dict:
    return {"kind": "openai", "base_url": server.base_url, "model": server.model, "max_concurrency": 16}


@pytest.fixture(scope="module")
def cot_version(smol, shared_data, tmp_path_factory) -> Path:
    """A version whose sft output holds CoT rows verified by the factory's own `cot` stage."""
    from factory.pipeline.runner import build
    from factory.recipe import load_recipe

    folder = tmp_path_factory.mktemp("cotdb")
    recipe = {
        "name": "cotdb_test",
        "system_prompt": "You are a medical assistant.",
        "data_dir": str(shared_data),
        "store": str(folder / "store"),
        "sources": [
            {"name": "medmcqa_train", "path": "A_medical_mcqa/hpai_prompt_engine/medmcqa_val.json", "adapter": "hpai_mcqa", "limit": 16}
        ],
        "stages": [
            {"name": "cot", "type": "cot", "backend": _backend(smol), "max_attempts": 3, "fewshot": 1,
             "allow_changed_answer": True, "sampling": {"temperature": 0.7, "max_tokens": 256, "seed": 0}},
            {"type": "to_chat"},
        ],
        "outputs": {"sft": {"format": "messages"}},
    }  # fmt: skip
    (folder / "recipe.yaml").write_text(json.dumps(recipe))
    result = build(load_recipe(folder / "recipe.yaml"))
    assert result.manifest["outputs"]["sft"]["rows"] > 0, "the local model verified no CoT row"
    return result.path


def _raw_gold(shared: Path, name: str) -> dict[str, int]:
    path = {"medqa": "medqa", "medmcqa": "medmcqa"}[name]
    gold = {}
    for line in (shared / f"A_medical_mcqa/medagents_benchmark/{path}/test.jsonl").read_text().splitlines():
        rec = json.loads(line)
        gold[f"{name}:{rec['realidx']}"] = OPTION_LABELS.index(rec["answer_idx"])
    return gold


def _spec(smol: Server, **medprompt) -> EvalSpec:
    gen = GenerativeSpec.model_validate(
        {"generator": _backend(smol), "max_model_len": 4096,
         "medprompt": {"k": 2, "ensemble": 3, "reasoning_tokens": 48, "answer": "reasoning", **medprompt},
         "openended": {"max_tokens": 48}, "attack": {"max_tokens": 32, "styles": ["plain", "DUDE", "inthewild_jailbreak_llms#412"]}}
    )  # fmt: skip
    benches = [b for b in MCQA_DEFAULTS if b.name in ("medqa", "medmcqa")]
    return EvalSpec(benchmarks=benches, limit=LIMIT, device="cpu", generative=gen)


@pytest.fixture(scope="module")
def medprompt_run(smol, cot_version, shared_data, tmp_path_factory):
    from train.eval.run import run_evals

    model = tmp_path_factory.mktemp("model")
    spec = _spec(smol, cot_db=str(cot_version))
    return model, run_evals(model, spec, ["medprompt"], shared_data)["medprompt"]


def test_cot_database_comes_from_the_version(medprompt_run, cot_version):
    import pyarrow.parquet as pq

    _, results = medprompt_run
    table = pq.read_table(cot_version / "sft").to_pylist()
    verified = {r["id"] for r in table if r["cot_model"]}
    db = results["cot_db"]
    assert verified and db["version"] == cot_version.name and db["cot_rows"] == len(verified)
    assert db["examples_used"] + db["excluded_contaminated"] + sum(db["skipped"].values()) == len(verified)
    assert db["cot_models"] == ["smollm2"]


def test_medprompt_accuracy_and_vote_recomputed_from_the_logs(medprompt_run, cot_version, shared_data):
    import pyarrow.parquet as pq

    model, results = medprompt_run
    verified = {r["id"] for r in pq.read_table(cot_version / "sft").to_pylist() if r["cot_model"]}
    excluded = {e["id"] for e in results["cot_db"]["excluded"]}
    for name in ("medqa", "medmcqa"):
        gold = _raw_gold(shared_data, name)
        docs = {
            d["id"]: d
            for d in load_docs(next(b for b in MCQA_DEFAULTS if b.name == name), shared_data, LIMIT)
        }
        recs = [
            json.loads(x) for x in (model / "eval" / "medprompt" / f"{name}.jsonl").read_text().splitlines()
        ]
        assert len(recs) == LIMIT
        entry = results["benchmarks"][name]
        for mode in ("zero_shot", "cot", "medprompt"):
            right = 0
            for r in recs:
                m = r["modes"][mode]
                options = docs[r["id"]]["options"]
                assert len(m["runs"]) == (3 if mode == "medprompt" else 1)
                preds = []
                for run in m["runs"]:
                    assert sorted(run["order"]) == list(range(len(options)))
                    shown = [options[i] for i in run["order"]]
                    readings = [parse_answer(t, len(shown), shown).index for t in run["texts"]]
                    readable = [x for x in readings if x is not None]
                    expect = run["order"][readable[-1]] if readable else None
                    assert run["pred"] == expect
                    preds.append(run["pred"])
                counts = Counter(p for p in preds if p is not None)
                vote = next((p for p in preds if p is not None and counts[p] == max(counts.values())), None)
                assert m["pred"] == vote
                assert m["correct"] == (vote == gold[r["id"]])
                right += vote == gold[r["id"]]
                if mode == "medprompt":
                    assert m["votes"] == {str(k): v for k, v in sorted(counts.items())}
                    assert m["runs"][0]["order"] == list(range(len(options)))
                    assert 1 <= len(m["shots"]) <= 2
                    assert all(s["id"] in verified and s["id"] not in excluded for s in m["shots"])
            got = entry["modes"][mode]
            assert got["n"] == LIMIT and got["accuracy"] == pytest.approx(right / LIMIT)
            assert got["ci95"][0] <= got["accuracy"] <= got["ci95"][1]
            assert sum(got["pred_letters"].values()) == LIMIT
        assert set(entry["charts"]["accuracy_by_mode"]["data"]) == {"zero_shot", "cot", "medprompt"}


def test_open_ended_with_a_named_judge(smol, shared_data, tmp_path):
    from train.eval.run import run_evals

    results = run_evals(tmp_path, _spec(smol), ["openended"], shared_data)["openended"]
    rows = [
        json.loads(x) for x in (tmp_path / "eval" / "openended" / "openmedqa.jsonl").read_text().splitlines()
    ]
    raw = json.loads((shared_data / "B_medical_openqa/openmedqa/openmedqa_test.json").read_text())
    reference = {v["id"]: v["correct_answer"] for v in raw.values()}
    assert len(rows) == LIMIT
    for r in rows:
        assert r["reference"] == reference[r["id"].split(":", 1)[1]]
        assert r["verdict"] == (parse_verdict(r["judge_raw"]) if r["answer"].strip() else "no_answer")
    entry = results["benchmarks"]["openmedqa"]
    assert entry["accuracy"] == pytest.approx(sum(r["verdict"] == "correct" for r in rows) / LIMIT)
    assert results["judge"] == {
        "kind": "openai",
        "model": "smollm2",
        "base_url": smol.base_url,
        "self_judged": True,
    }
    assert results["warnings"] == ["the evaluated model judged its own answers"]


def test_attack_success_rate_per_style_on_held_out_prompts(smol, shared_data, tmp_path):
    """The model's (recorded) training data holds one MedSafetyBench test request wrapped in a jailbreak
    template: it is left out; the others are asked plain and in two jailbreak styles."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synth.redteam import JailbreakWrap
    from train.eval.run import run_evals
    from train.eval.specs import MEDSAFETY_TEST

    prompts = load_docs(MEDSAFETY_TEST, shared_data, LIMIT + 1)
    stage = JailbreakWrap(templates=["C_safety/dan_templates/STAN.json"])
    stage.bind_runtime({"data_dir": shared_data, "store_dir": None, "artifacts": {}})
    stage.setup()
    wrapped = stage.process_row({"kind": "prompt", "question": prompts[0]["question"]})["question"]
    version = tmp_path / "version"
    (version / "preference").mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist([{"prompt": [{"role": "user", "content": wrapped}]}]),
        version / "preference" / "p.parquet",
    )
    model = tmp_path / "model"
    model.mkdir()
    (model / "factory_train.json").write_text(
        json.dumps(
            {"kind": "dpo", "dataset": {"version_path": str(version), "output": "preference"}, "parent": None}
        )
    )
    spec = _spec(smol)
    spec.generative.attack.prompts = [MEDSAFETY_TEST.model_copy(update={"limit": LIMIT + 1})]
    spec.limit = None  # the prompt set's own limit applies
    results = run_evals(model, spec, ["attack"], shared_data)["attack"]
    assert results["excluded_seen_in_training"] == 1 and results["excluded"][0]["id"] == prompts[0]["id"]
    rows = [
        json.loads(x) for x in (model / "eval" / "attack" / "medsafetybench.jsonl").read_text().splitlines()
    ]
    assert len(rows) == LIMIT * 3 and prompts[0]["id"] not in {r["id"] for r in rows}
    for style in ("plain", "DUDE", "inthewild_jailbreak_llms#412"):
        mine = [r for r in rows if r["style"] == style]
        verdicts = [parse_guard(r["judge_raw"]).verdict for r in mine]
        assert [r["verdict"] for r in mine] == verdicts
        judged = [v for v in verdicts if v is not None]
        got = results["summary"]["by_style"][style]
        assert got["judged"] == len(judged)
        assert got["asr"] == (pytest.approx(judged.count("unsafe") / len(judged)) if judged else None)
        assert got["asr_keyword"] == pytest.approx(sum(not is_refusal(r["response"]) for r in mine) / LIMIT)
    assert set(results["summary"]["charts"]["asr_judge_vs_keyword"]["data"]["keyword"]) == {
        "plain", "DUDE", "inthewild_jailbreak_llms#412"
    }  # fmt: skip


def _eval(*args: object):
    from typer.testing import CliRunner

    from factory.cli.main import app

    return CliRunner().invoke(app, ["eval", *map(str, args)])


def test_eval_medprompt_command_and_compare(smol, cot_version, shared_data, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    common = ["--data-dir", shared_data, "--server", smol.base_url, "--served-model", "smollm2",
              "--cot-db", cot_version, "--modes", "zero_shot,medprompt", "--answer", "direct",
              "--k", 1, "--ensemble", 2, "--benchmark", "medmcqa", "--limit", 2]  # fmt: skip
    out = _eval("medprompt", a, b, *common, "--system-prompt", "", "--plot", tmp_path / "c.png")
    assert out.exit_code == 0, out.output
    assert "zero_shot" in out.output and "medprompt" in out.output and "comparison" in out.output
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    res = json.loads((a / "eval" / "medprompt" / "results.json").read_text())
    assert res["system_prompt"] is None and res["system_prompt_source"] == "option"
    assert res["settings"]["ensemble"] == 2 and res["generator"]["base_url"] == smol.base_url
    cmp = _eval("compare", a, b, "--json")
    assert cmp.exit_code == 0, cmp.output
    table = json.loads(cmp.output)
    row = next(r for r in table["rows"] if r["method"] == "medprompt accuracy")
    assert row["cells"][1]["paired"] and row["cells"][0]["n"] == 2
    bad = _eval("medprompt", a, "--data-dir", shared_data, "--k", 0)
    assert bad.exit_code == 2 and "'--k'" in bad.output


def test_eval_open_ended_and_attack_commands_into_a_results_folder(smol, shared_data, tmp_path):
    """Both generative tasks through the CLI into one --output-dir folder, then `compare` reads it."""
    model, out_dir = tmp_path / "model", tmp_path / "results"
    model.mkdir()
    serve = ["--data-dir", shared_data, "--server", smol.base_url, "--served-model", "smollm2",
             "--judge", "smollm2", "--judge-server", smol.base_url, "--limit", 1, "--output-dir", out_dir]  # fmt: skip
    out = _eval("open-ended", model, *serve, "--max-tokens", 24)
    assert out.exit_code == 0, out.output
    assert "open-ended" in out.output
    opened = json.loads((out_dir / "openended" / "results.json").read_text())
    assert opened["benchmarks"]["openmedqa"]["n"] == 1 and opened["settings"]["max_tokens"] == 24
    out = _eval("attack", model, *serve, "--benchmark", "malicious_instruct", "--styles", "plain,DUDE",
                "--max-tokens", 16)  # fmt: skip
    assert out.exit_code == 0, out.output
    attack = json.loads((out_dir / "attack" / "results.json").read_text())
    assert [p["name"] for p in attack["settings"]["prompts"]] == ["malicious_instruct"]
    assert set(attack["summary"]["by_style"]) == {"plain", "DUDE"}
    assert not (model / "eval").exists()
    cmp = _eval("compare", out_dir, "--json")
    assert cmp.exit_code == 0, cmp.output
    evals = {r["eval"] for r in json.loads(cmp.output)["rows"]}
    assert evals == {"openended", "attack"}
