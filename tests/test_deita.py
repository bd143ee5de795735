"""DEITA-style scores and the evol-score cut: what is scored per kind, the requests (templates, structured
Guide, logprobs), robust parsing and the ``unscorable`` drop, DEITA's expected score from logprobs and the
sampled integer as its fallback, the cut's ties and report on inline rows under both executors, and the
scorer end to end against the tiny vLLM server (plumbing, not accuracy). The local model through both
backends: tests/test_logprobs_local.py."""

from __future__ import annotations

import math

import pytest

from factory.llm.types import Guide, OpenAIBackend, Response, Retry
from factory.rows import make_row
from factory.testing import run_stage
from filters.quality.evol_cut import EvolCut
from synth.deita import DeitaScore, expected_score, instruction_and_response, read_score

NOWHERE = OpenAIBackend(base_url="http://127.0.0.1:9/v1", model="scorer")  # never called by the unit tests
KEY_ENV = "TINY_SERVER_KEY"  # set by the `server` fixture (conftest)

QA = make_row(
    id="q:0", source="q", kind="qa", question="How is gout treated?", answer="NSAIDs or colchicine."
)
MCQA = make_row(id="m:0", source="m", kind="mcqa", question="Drug for gout flare?", options=["Colchicine", "Insulin"],
                answer_idx=0, explanation="Colchicine calms the flare.")  # fmt: skip
CHAT = make_row(id="c:0", source="c", kind="chat", messages=[
    {"role": "system", "content": "Be kind."}, {"role": "user", "content": "My toe hurts."},
    {"role": "assistant", "content": "Since when?"}, {"role": "user", "content": "Two days."},
    {"role": "assistant", "content": "It may be gout; see a doctor."}])  # fmt: skip


def test_what_is_scored_per_kind():
    assert instruction_and_response(QA) == ("How is gout treated?", "NSAIDs or colchicine.")
    instruction, response = instruction_and_response(MCQA)
    assert instruction == "Drug for gout flare?\nA. Colchicine\nB. Insulin"
    assert response == "Colchicine calms the flare.\n\nAnswer: A. Colchicine"
    instruction, response = instruction_and_response(CHAT)
    assert instruction == "user: My toe hurts.\n\nassistant: Since when?\n\nuser: Two days."
    assert response == "It may be gout; see a doctor."
    assert instruction_and_response(make_row(id="p", source="p", kind="prompt", question="Hi")) is None


def test_requests_and_robust_parse():
    stage = DeitaScore(backend=NOWHERE)
    stage.setup()
    complexity, quality = stage.build_requests(QA, 0)
    assert (complexity.tag, quality.tag) == ("complexity", "quality")
    assert complexity.guide == Guide(choice=["1", "2", "3", "4", "5", "6"])
    assert complexity.logprobs == 20 and quality.logprobs == 20
    assert "How is gout treated?" in complexity.messages[0]["content"]
    assert "NSAIDs" not in complexity.messages[0]["content"]  # complexity reads the instruction only
    assert "#Response#\nNSAIDs or colchicine." in quality.messages[0]["content"]
    free = DeitaScore(backend=NOWHERE, structured=False, score="quality")
    free.setup()
    assert free.build_requests(QA, 0)[0].guide is None

    def said(*texts):
        return [Response([t], "scorer-8b", ["stop"]) for t in texts]

    assert stage.parse(QA, said("4", "Quality: 5/6"), 0) | {"question": None} == QA | {
        "question": None, "complexity": 4.0, "quality": 5.0, "score_model": "scorer-8b",
        "score_method": "sampled"}  # fmt: skip
    assert stage.parse(QA, said('{"score": 2}', "[[6]]"), 0)["quality"] == 6.0
    out = stage.parse(QA, said("The instruction is simple.", "9"), 0)
    assert isinstance(out, Retry) and out.reason == "unscorable"
    assert (
        "complexity: 'The instruction is simple.'" in out.detail and "quality: '9'" in out.detail
    )  # 9 > scale
    one = DeitaScore(backend=NOWHERE, score="complexity")
    one.setup()
    assert set(one.adds) == {"complexity", "score_model", "score_method"} and len(one.build_requests(QA, 0)) == 1
    off = DeitaScore(backend=NOWHERE, logprobs=0)
    off.setup()
    assert all(r.logprobs is None for r in off.build_requests(QA, 0))


def lp(probs: dict[str, float]) -> dict[str, float]:
    return {t: math.log(p) for t, p in probs.items()}


def test_expected_score_from_logprobs():
    """DEITA's code: softmax over the logits of "1".."6" at the answer position, then sum p_i x i. Here the
    position is the token that wrote the integer read; other tokens there do not count."""
    at_first = [("4", lp({"4": 0.5, "3": 0.3, "6": 0.1, "The": 0.1})), ("<|im_end|>", {})]
    assert expected_score(at_first, 4, 6) == pytest.approx((4 * 0.5 + 3 * 0.3 + 6 * 0.1) / 0.9)
    # free text: "Score: 5" -> the position of " 5"; a digit written with a space counts as the digit
    labelled = [("Score", lp({"Score": 0.9})), (":", lp({":": 1.0})),
                (" 5", lp({" 5": 0.6, " 4": 0.2, "5": 0.1, " seven": 0.1}))]  # fmt: skip
    assert expected_score(labelled, 5, 6) == pytest.approx((5 * 0.7 + 4 * 0.2) / 0.9)
    assert expected_score(None, 4, 6) is None  # no logprobs: the caller keeps the sampled integer
    assert expected_score([("4", lp({"4": 1.0}))], 4.5, 6) is None  # a decimal is not one token
    assert expected_score([("7", lp({"7": 1.0}))], 7, 10) is None  # scale 10: "10" is not one token
    assert expected_score([("3", lp({"3": 1.0}))], 4, 6) is None  # no position wrote the 4 read


def test_parse_takes_the_expected_score_and_falls_back_to_the_sampled_integer():
    stage = DeitaScore(backend=NOWHERE)
    stage.setup()
    sure = Response(["2"], "scorer", ["stop"], logprobs=[[("2", lp({"2": 0.8, "3": 0.2}))]])
    plain = Response(["5"], "scorer", ["stop"])  # a backend that returned no logprobs
    out = stage.parse(QA, [sure, sure], 0)
    assert out["complexity"] == pytest.approx(2.2) and out["score_method"] == "logprobs"
    assert stage.parse(QA, [plain, plain], 0)["score_method"] == "sampled"
    mixed = stage.parse(QA, [sure, plain], 0)
    assert mixed["quality"] == 5.0 and mixed["score_method"] == "mixed"
    report = stage.report(stage.figures)
    assert report["rows_per_score_method"] == {"logprobs": 1, "mixed": 1, "sampled": 1}
    assert any("2 of 3 rows scored" in w and "no logprobs" in w for w in report["warnings"])
    unread = stage.parse(QA, [Response(["fine"], "scorer", ["stop"], logprobs=[[("fine", {"fine": 0.0})]]), sure], 0)
    assert isinstance(unread, Retry)  # logprobs never invent a score the text does not give


@pytest.mark.parametrize(
    "text, value",
    [("5", 5.0), ("4.", 4.0), ("Quality: 5/6", 5.0), ("**Complexity**: 2", 2.0), ("complexity 3 of 6", 3.0),
     ("Score: 4", 4.0), ('{"score": 1}', 1.0), ("[[6]]", 6.0), ("I would say 4 out of 6.", 4.0),
     ("Quality: 7/10", None), ("0", None), ("I think it is good.", None), ("", None),
     ("1. A simple request that needs one fact.\n2. A demanding request.\n5.", None),  # an echoed scale
     ("The recipe requires a multi-step reasoning.", None)],
)  # fmt: skip
def test_read_score(text, value):
    assert read_score(text, 6) == value


def test_long_texts_are_cut():
    stage = DeitaScore(backend=NOWHERE, max_text_chars=100)
    stage.setup()
    row = {**QA, "question": "x " * 500}
    content = stage.build_requests(row, 0)[0].messages[0]["content"]
    assert "x " * 50 in content and "x " * 60 not in content and "[...]" in content


def scored(i: int, q: float | None, c: float | None, source: str = "s") -> dict:
    return make_row(id=f"{source}:{i}", source=source, kind="qa", question=f"q{i}", answer="a") | {
        "quality": q, "complexity": c}  # fmt: skip


EXTRA = {"quality": "float64", "complexity": "float64"}


def test_cut_drops_the_lowest_share(executor):
    import pyarrow as pa

    extra = {k: pa.float64() for k in EXTRA}
    rows = [scored(i, 1 + i % 6, 1 + (i // 6) % 6, source="ab"[i % 2]) for i in range(40)]
    rows += [scored(99, None, None)]  # not scored: not ranked
    kept, drops, stats = run_stage(EvolCut(drop_share=0.1), rows, executor, extra=extra)
    assert len(drops) == 4 and all(d["reason"] == "low_evol_score" for d in drops)
    dropped_evol = sorted(float(d["detail"].split("=")[2].split()[0]) for d in drops)
    kept_evol = [r["quality"] * r["complexity"] for r in kept if r["quality"] is not None]
    assert max(dropped_evol) <= min(kept_evol)
    report = stats["report"]
    assert report["rows_ranked"] == 40 and report["rows_unscored"] == 1 and report["dropped"] == 4
    assert (
        report["charts"]["evol_scores"]["kind"] == "hist"
        and len(report["charts"]["evol_scores"]["data"]) == 40
    )
    assert sum(report["dropped_by_source"].values()) == 4 and "s:99" in {r["id"] for r in kept}
    again, _, _ = run_stage(EvolCut(drop_share=0.1), list(reversed(rows)), executor, extra=extra)
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in kept)  # ties broken by id hash


def test_cut_warns_on_ties_and_keeps_everything_at_zero():
    import pyarrow as pa

    extra = {k: pa.float64() for k in EXTRA}
    rows = [scored(i, 3, 3) for i in range(20)]
    kept, drops, stats = run_stage(EvolCut(drop_share=0.25), rows, "local", extra=extra)
    assert len(drops) == 5 and stats["report"]["kept_at_cut_value"] == 15
    assert stats["report"]["rows_at_cut_value"] == 20 and stats["report"]["tie_share"] == 1.0
    assert "share the cut value 9" in stats["report"]["warnings"][0]
    kept, drops, _ = run_stage(EvolCut(drop_share=0.0), rows, "local", extra=extra)
    assert len(kept) == 20 and not drops


def test_recipe_chain_needs_the_score_columns(tmp_path):
    from factory.errors import RecipeError
    from factory.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\nsources: [{name: s, path: s.jsonl, adapter: alpaca}]\noutputs: {sft: {format: messages}}\n"
        "stages:\n  - {type: evol_cut}\n"
    )
    with pytest.raises(RecipeError, match="quality"):
        load_recipe(path)
    path.write_text(path.read_text().replace(
        "  - {type: evol_cut}", "  - {type: deita_score, backend: {kind: vllm, model: smollm2-135m, accelerator: cpu}}\n"
        "  - {type: evol_cut, drop_share: 0.1}"))  # fmt: skip
    assert [s.type for s in load_recipe(path).stages] == ["deita_score", "evol_cut"]


def test_scorer_on_the_tiny_server(server, executor, tmp_path):
    backend = OpenAIBackend(
        base_url=server.base_url, model=server.model, api_key_env=KEY_ENV, max_concurrency=8
    )
    rows = [QA, MCQA, CHAT, make_row(id="p:0", source="p", kind="prompt", question="Hi")]
    rows += [make_row(id=f"q:{i}", source="q", kind="qa", question=f"What causes symptom {i}?", answer="Many things.")
             for i in range(1, 6)]  # fmt: skip
    stage = DeitaScore(
        backend=backend, sampling={"temperature": 1.0, "max_tokens": 8, "seed": 1}, max_attempts=2
    )
    kept, drops, stats = run_stage(stage, rows, executor, store_dir=tmp_path)
    assert len(kept) + len(drops) == len(rows) and stats["rows_in"] == len(rows)
    assert {d["reason"] for d in drops} <= {"unscorable"} and all(
        "no 1-6 score" in d["detail"] for d in drops
    )
    assert next(r for r in kept if r["id"] == "p:0")["quality"] is None  # a prompt passes unscored
    for r in kept:
        if r["id"] != "p:0":
            assert 1 <= r["quality"] <= 6 and 1 <= r["complexity"] <= 6 and r["score_model"]
            assert r["score_method"] == "logprobs"  # vLLM's server returns top_logprobs
    report = stats["report"]
    assert report["requests"]["sent"] >= 16 and report["rows_passed"] == 1
    again, drops2, stats2 = run_stage(stage, rows, executor, store_dir=tmp_path)
    assert stats2["report"]["requests"]["sent"] == 0  # every answer came from the request cache
    assert [r["id"] for r in again] == [r["id"] for r in kept] and len(drops2) == len(drops)
