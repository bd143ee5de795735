"""``contamination_judge``: verdicts read from what judges write, only rows with candidates judged (through a
real vLLM server on a tiny random model and the request cache), drops naming the item, the report."""

from __future__ import annotations

import json
import math

import pytest

from factory.llm.types import OpenAIBackend, Response, SamplingConfig
from factory.rows import make_row
from factory.testing import run_stage
from filters.decontam.decontaminate import COLUMN, Decontaminate
from filters.decontam.judge import VERDICTS, ContaminationJudge
from filters.decontam.verdict import parse_verdict, verdict_probability

KEY_ENV = "TINY_SERVER_KEY"  # set by the `server` fixture (conftest)
QUESTION = "Which antibiotic treats early Lyme disease in adults?"


@pytest.mark.parametrize(
    ("text", "same"),
    [
        ('{"reason": "Same question, reworded.", "same": true}', True),
        ('```json\n{"same": false, "reason": "Different drug asked."}\n```', False),
        ('{"verdict": "yes"}', True),
        ("Same: false\nThe example asks about a different organ.", False),
        ("Yes. Both ask which antibiotic treats early Lyme disease.", True),
        ("No, the training example is about shingles.", False),
        ("The training example is a paraphrased version of the benchmark item.", True),
        ("These two are not really the same question at all.", False),
        ("", None),
        ("Lyme disease is caused by Borrelia burgdorferi.", None),
    ],
)
def test_parse_verdict_reads_what_judges_write(text, same):
    assert parse_verdict(text)[0] is same


def bench(folder):
    rec = {"realidx": "q0", "question": QUESTION, "options": {"A": "Amoxicillin", "B": "Doxycycline"},
           "answer_idx": "B"}  # fmt: skip
    (folder / "bench.jsonl").write_text(json.dumps(rec) + "\n")
    return [{"name": "tiny", "path": "bench.jsonl", "adapter": "medagents"}]


def row(i, question, candidates):
    return make_row(id=f"t:{i}", source="t", kind="qa", question=question, answer="...") | {
        COLUMN: candidates
    }


CAND = {"benchmark": "tiny", "item": "tiny:q0", "kind": "terms", "score": 0.6, "confident": False,
        "evidence": "5 distinctive terms shared"}  # fmt: skip


def judge(tmp_path, srv=None, **kw):
    backend = OpenAIBackend(base_url=srv.base_url if srv else "http://127.0.0.1:9/v1", model=srv.model if srv else "m",
                            api_key_env=KEY_ENV)  # fmt: skip
    return ContaminationJudge(benchmarks=bench(tmp_path), backend=backend,
                              sampling=SamplingConfig(max_tokens=24, temperature=0.8), **kw)  # fmt: skip


def test_only_rows_with_candidates_are_judged_and_answers_are_cached(server, tmp_path):
    from filters.decontam.decontaminate import Decontaminate

    stage = judge(tmp_path, server)
    rows = [
        row(0, "What causes seasonal allergies?", None),
        row(1, "For adults with early Lyme disease, which antibiotic is used?", [CAND]),
        row(2, "Lyme disease in grown-ups: the first-line drug?", [{**CAND, "confident": True}]),
    ]
    extra = dict(Decontaminate(benchmarks=bench(tmp_path)).adds)
    store = tmp_path / "store"
    before = server.settled_count(quiet_s=0.2)
    kept, drops, stats = run_stage(stage, rows, extra=extra, data_dir=tmp_path, store_dir=store)
    sent = server.settled_count(quiet_s=0.5) - before
    assert len(kept) + len(drops) == 3
    by_id = {r["id"]: r for r in kept} | {d["id"]: json.loads(d["row"]) for d in drops}
    assert by_id["t:0"][VERDICTS] is None and by_id["t:2"][VERDICTS] is None  # nothing or only sure ones
    verdicts = by_id["t:1"][VERDICTS]
    assert [v["item"] for v in verdicts] == ["tiny:q0"] and verdicts[0]["judge_model"] == server.model
    report = stats["report"]
    assert report["rows_judged"] == 1 and report["rows_passed"] == 2
    assert 1 <= sent == report["requests"]["sent"] <= 2  # a second attempt only for an unreadable answer
    before = server.settled_count(quiet_s=0.2)
    again = run_stage(judge(tmp_path, server), rows, extra=extra, data_dir=tmp_path, store_dir=store)[2]
    assert server.settled_count(quiet_s=0.3) == before and again["report"]["requests"]["sent"] == 0
    assert {"judge_per_benchmark", "judge_per_kind"} <= set(report["charts"])


def test_a_confirmed_copy_is_dropped_naming_the_item(tmp_path):
    stage = judge(tmp_path)
    stage.bind_runtime({"data_dir": str(tmp_path)})
    stage.setup()
    r = row(1, "For adults with early Lyme disease, which antibiotic is used?", [CAND])
    (req,) = stage.build_requests(r, 0)
    assert req.guide.json_schema["required"] == ["reason", "same"] and QUESTION in req.messages[1]["content"]
    said = Response(['{"reason": "The same question, reworded.", "same": true}'], "judge-70b", ["stop"])
    out = stage.parse(r, [said], 0)
    assert out["_drop"] == "benchmark_contamination"
    assert out["_drop_detail"].startswith(
        "benchmark=tiny item=tiny:q0 match=judge judge=judge-70b candidate=terms:0.60"
    )
    no = stage.parse(r, [Response(['{"reason": "Other topic.", "same": false}'], "judge-70b", ["stop"])], 0)
    assert "_drop" not in no and no[VERDICTS][0]["same"] is False
    report = stage.report(stage.figures)
    assert report["rows_confirmed"] == 1 and report["rows_judged"] == 2
    marked = judge(tmp_path, action="mark")
    marked.bind_runtime({"data_dir": str(tmp_path)})
    marked.setup()
    assert "_drop" not in marked.parse(r, [said], 0)
    with pytest.raises(ValueError, match="same `include`/`benchmarks` as decontaminate"):
        stage.build_requests(row(3, "x", [{**CAND, "item": "other:1"}]), 0)


def test_judge_all_asks_about_every_row_against_its_nearest_items(server, tmp_path, one_torch_thread):
    """``judge_all`` (Aloe Beta's way: every instruction judged): a row without candidates is judged against
    its nearest benchmark item by the MiniLM encoder; rows the cheap tiers were sure of stay theirs. Off, the
    stage's params (its cache key) are what they were."""
    pytest.importorskip("sentence_transformers")
    recs = [{"realidx": "q0", "question": QUESTION, "options": {"A": "Amoxicillin", "B": "Doxycycline"}, "answer_idx": "B"},
            {"realidx": "q1", "question": "Which vaccine prevents shingles in adults over fifty?",
             "options": {"A": "Recombinant zoster vaccine", "B": "BCG"}, "answer_idx": "A"}]  # fmt: skip
    (tmp_path / "bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    entries = [{"name": "tiny", "path": "bench.jsonl", "adapter": "medagents"}]
    backend = OpenAIBackend(base_url=server.base_url, model=server.model, api_key_env=KEY_ENV)

    def make(**kw):
        return ContaminationJudge(benchmarks=entries, backend=backend,
                                  sampling=SamplingConfig(max_tokens=24, temperature=0.8), **kw)  # fmt: skip

    assert "judge_all" not in make().params() and "nearest" not in make().params()
    stage = make(judge_all=True)
    assert stage.params()["judge_all"] is True
    rows = [
        row(0, "What shot protects people over 60 from herpes zoster?", None),
        row(1, "For adults with early Lyme disease, which antibiotic is used?", [CAND]),
        row(2, "Lyme disease in grown-ups: the first-line drug?", [{**CAND, "confident": True}]),
    ]
    extra = dict(Decontaminate(benchmarks=entries).adds)
    kept, drops, stats = run_stage(stage, rows, extra=extra, data_dir=tmp_path, store_dir=tmp_path / "store")
    by_id = {r["id"]: r for r in kept} | {d["id"]: json.loads(d["row"]) for d in drops}
    assert [v["item"] for v in by_id["t:0"][VERDICTS]] == ["tiny:q1"]  # its nearest item: the shingles one
    assert [v["item"] for v in by_id["t:1"][VERDICTS]] == ["tiny:q0"]  # its candidate
    assert by_id["t:2"][VERDICTS] is None  # the cheap tiers were sure (judge_confident is off)
    report = stats["report"]
    assert report["rows_judged"] == 2
    kinds = report["charts"]["judge_per_kind"]["data"]
    assert sum(side.get("nearest", 0) for side in kinds.values()) == 1


def lp(probs: dict[str, float]) -> dict[str, float]:
    return {t: math.log(p) for t, p in probs.items()}


# What a backend returns for '{"reason":"Same drug asked.","same":true}' with top logprobs (one dict per token).
JSON_TOKENS = [("{\"", {}), ("reason", {}), ("\":\"", {}), ("Same drug asked.", {}), ("\",\"", {}),
               ("same", {}), ("\":", {}), ("true", lp({"true": 0.9, "false": 0.08, "t": 0.02})), ("}", {})]  # fmt: skip


@pytest.mark.parametrize(
    ("tokens", "same", "p"),
    [
        (JSON_TOKENS, True, 0.92),  # true + its prefix "t", renormalised over true/false
        ([("Yes", lp({"Yes": 0.7, "No": 0.2, "I": 0.1})), (".", {})], True, 0.7 / 0.9),  # a leading yes/no
        ([*JSON_TOKENS[:6], ("\": ", {}), (" false", lp({" false": 0.6, " true": 0.4}))], False, 0.6),
        (JSON_TOKENS, False, None),  # the token found says the other verdict
        ([("They", {}), (" differ", {})], False, None),  # no verdict token to read
        (None, True, None),  # no logprobs: a sampled verdict has no probability
    ],
)
def test_verdict_probability_at_the_verdict_token(tokens, same, p):
    got = verdict_probability(tokens, same)
    assert got == (None if p is None else pytest.approx(p))


def judged(tmp_path, **kw):
    stage = judge(tmp_path, **kw)
    stage.bind_runtime({"data_dir": str(tmp_path)})
    stage.setup()
    return stage


def test_agreement_required_before_a_judge_drop(tmp_path):
    """``require``: a "copy" verdict drops its row only with the verdict probability and the tier similarity
    floors met; otherwise the row is kept and counted as overruled, with its evidence in the report and in
    report.html's Decontamination section (apart from the tiers' drops)."""
    from factory.report.decontam import decontamination_sections

    r = row(1, "For adults with early Lyme disease, which antibiotic is used?", [CAND])  # terms, score 0.6
    text = '{"reason":"Same drug asked.","same":true}'
    sure = Response([text], "judge-70b", ["stop"], logprobs=[JSON_TOKENS])
    sampled = Response([text], "judge-70b", ["stop"])  # a backend without logprobs

    plain = judged(tmp_path)
    assert plain.build_requests(r, 0)[0].logprobs == 5
    out = plain.parse(r, [sure], 0)
    assert out["_drop_detail"].startswith("benchmark=tiny item=tiny:q0 match=judge judge=judge-70b "
                                          "candidate=terms:0.60 p=0.920 reason=Same drug asked.")  # fmt: skip
    v = out[VERDICTS][0]
    assert (v["probability"], v["kind"], v["similarity"]) == (pytest.approx(0.92), "terms", 0.6)
    assert "p=none (sampled)" in plain.parse(r, [sampled], 0)["_drop_detail"]  # no requirement: dropped

    strict = judged(tmp_path, require={"min_probability": 0.95})
    kept = strict.parse(r, [sure], 0)
    assert "_drop" not in kept and kept[VERDICTS][0]["same"] is True
    assert "_drop" not in strict.parse(r, [sampled], 0)  # no probability: the floor is not met
    report = strict.report(strict.figures)
    assert report["rows_overruled"] == 2 and report["rows_confirmed"] == 0
    assert report["require"] == {"min_probability": 0.95}
    assert report["overruled_rows"][0] | {"reason": None} == {
        "row": "t:1", "source": "t", "benchmark": "tiny", "item": "tiny:q0", "kind": "terms",
        "similarity": 0.6, "probability": pytest.approx(0.92), "reason": None}  # fmt: skip
    assert report["verdict_probabilities"] == {"logprobs": 1, "none (sampled)": 1}
    assert any("carry no probability" in w for w in report["warnings"])

    both = judged(tmp_path, require={"min_probability": 0.9, "min_similarity": 0.5})
    assert both.parse(r, [sure], 0)["_drop"] == "benchmark_contamination"
    assert "_drop" not in judged(tmp_path, require={"min_similarity": 0.7}).parse(r, [sure], 0)
    with pytest.raises(ValueError):
        judge(tmp_path, require={"min_probabilty": 0.9})  # a typo fails at load time

    judge_report = both.report(both.figures)
    tiers = {"rows_checked": 10, "rows_dropped": 1, "examples": {"dropped:ngram": [
        {"row": "t:9", "item": "tiny:q0", "score": 0.8, "evidence": "3 shared 13-grams"}]}}  # fmt: skip
    manifest = {"stages": [
        {"name": "decontaminate", "type": "decontaminate", "params": {}, "report": tiers},
        {"name": "contamination_judge", "type": "contamination_judge", "params": {"action": "drop"},
         "report": judge_report}]}  # fmt: skip
    (section,) = decontamination_sections(manifest)
    summary, tier_drops, judge_drops, overruled = section.tables
    assert summary.rows == [["decontaminate", "cheap tiers (a confident match)", 10, 1, "-"],
                            ["contamination_judge", "LLM judge (m)", 1, 1, 0]]  # fmt: skip
    assert tier_drops.rows == [["t:9", "tiny:q0", "ngram", "0.80", "3 shared 13-grams"]]
    assert judge_drops.rows == [["t:1", "t", "tiny:q0", "terms", "0.60", "0.920", "Same drug asked."]]
    assert overruled.rows == [] and "min_probability 0.9, min_similarity 0.5" in overruled.caption
    assert decontamination_sections({"stages": []}) == []
