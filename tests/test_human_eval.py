"""Human evaluation without a browser: the study design, the PII screen (real Presidio + spaCy), prepare through
the real generation client (vLLM's OpenAI server on the tiny model), the database's guarantees (one vote per
rater and item, slots, tokens) and the statistics of the results."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from pathlib import Path

import pytest

from train.eval.human.db import StudyDB, VoteError, sqlite_url
from train.eval.human.study import SCHEMA, Design, ModelEntry, StudyError, build_study, load_study, save_study


def entries(n: int, folders: list[Path] | None = None) -> list[ModelEntry]:
    return [
        ModelEntry(key=f"m{i + 1}", label=f"secret-model-{i + 1}", model=f"secret-model-{i + 1}",
                   backend={"kind": "vllm", "model": str(folders[i]) if folders else f"/models/x{i}"},
                   system_prompt=None, system_prompt_source="none", sampling={"temperature": 0.7})
        for i in range(n)
    ]  # fmt: skip


def make_study(n_models: int = 3, n_questions: int = 30, folders: list[Path] | None = None, **design):
    models = entries(n_models, folders)
    questions = [(f"q{i}", f"question {i}?") for i in range(n_questions)]
    answers = {(q, m.key): f"answer of {m.key} to {q}" for q, _ in questions for m in models}
    return build_study("demo", models, questions, answers, Design(**design))


def test_pairs_balanced_sides_randomised_and_overlap_recorded():
    study = make_study(3, 30, overlap_share=0.2, overlap_raters=3, raters_per_item=1)
    per_pair = Counter(it.pair for it in study.items)
    assert sorted(per_pair.values()) == [10, 10, 10]  # 30 questions over 3 pairs
    for pair in per_pair:
        first_as_a = sum(it.left == pair[0] for it in study.items if it.pair == pair)
        assert first_as_a == 5  # half of each pair's items show its first model as A
    assert Counter(it.raters for it in study.items) == {1: 24, 3: 6}
    assert len({it.id for it in study.items}) == 30
    for it in study.items:
        assert it.answer_left == f"answer of {it.left} to {it.question_id}"
        assert "secret" not in it.id and "m1" not in it.id and len(it.id) == 16
    # the order served is shuffled, not grouped by pair
    served = [it.pair for it in study.items]
    assert served != sorted(served)


def test_all_pairs_per_question_and_missing_answers_left_out():
    models = entries(3)
    questions = [("q1", "a?"), ("q2", "b?")]
    answers = {(q, m.key): "x" for q, _ in questions for m in models}
    answers[("q2", "m3")] = "  "
    study = build_study("s", models, questions, answers, Design(pairings_per_question=3))
    assert len(study.items) == 4 and study.generation["left_out"] == 2
    assert all("m3" not in (it.left, it.right) for it in study.items if it.question_id == "q2")


def test_study_file_of_another_schema_or_edited_is_refused(tmp_path):
    study = make_study()
    path = save_study(study, tmp_path)
    assert load_study(tmp_path).study_id == study.study_id
    raw = json.loads(path.read_text())
    path.write_text(json.dumps(raw | {"schema": "factory-human-study/0"}))
    with pytest.raises(
        StudyError, match=r"schema 'factory-human-study/0'.*reads 'factory-human-study/1'.*prepare"
    ):
        load_study(tmp_path)
    raw["items"][0]["answer_left"] = "edited by hand"
    path.write_text(json.dumps(raw))
    with pytest.raises(StudyError, match="edited after"):
        load_study(path)
    assert SCHEMA == "factory-human-study/1"


@pytest.fixture
def db(tmp_path):
    study = make_study(3, 12, overlap_share=0.25, overlap_raters=2)
    store = StudyDB(sqlite_url(tmp_path / "h.sqlite"), study)
    yield store
    store.close()


def signed_in(store: StudyDB, name: str, **kw):
    token = store.invite(name, **kw)
    session_token, role = store.login(token)
    return store.session(session_token), token, session_token


def stored_votes(store: StudyDB) -> int:
    return len(store.votes())


def test_bad_votes_are_clear_errors_and_nothing_is_stored_twice(db):
    s, _, _ = signed_in(db, "alice")
    item = db.current_item(s)
    assert set(item) == {"id", "question", "answer_a", "answer_b"}
    assert db.current_item(s)["id"] == item["id"]  # resume: the same open item
    cases = [
        ("ffffffffffffffff", "A", "", 404, "unknown item"),
        (item["id"], "none", "   ", 400, "reason is required"),
        (item["id"], "C", "", 400, "choose answer A"),
    ]
    other = next(it.id for it in db.study.items if it.id != item["id"])
    cases.append((other, "A", "", 403, "not assigned to you"))
    for item_id, choice, reason, status, text in cases:
        with pytest.raises(VoteError, match=text) as exc:
            db.vote(s, item_id, choice, reason)
        assert exc.value.status == status
    assert stored_votes(db) == 0
    db.vote(s, item["id"], "none", "both answers are wrong")
    with pytest.raises(VoteError, match="already voted") as exc:
        db.vote(s, item["id"], "A", "")
    assert exc.value.status == 409
    votes = db.votes()
    assert len(votes) == 1 and votes[0]["choice"] == "none" and votes[0]["reason"] == "both answers are wrong"
    assert db.current_item(s)["id"] != item["id"]


def test_tokens_hashed_expired_and_revoked_refused(db, tmp_path):
    s, token, session_token = signed_in(db, "alice")
    expired = db.invite("old", days=-1)
    assert db.login(expired) is None and db.login("not-a-token") is None
    raw = sqlite3.connect(tmp_path / "h.sqlite").execute("SELECT token_hash FROM raters").fetchall()
    assert token not in json.dumps(raw) and all(len(h) == 64 for (h,) in raw)
    db.current_item(s)
    assert db.revoke("alice") == 1  # its open item went back to the pool
    assert db.session(session_token) is None and db.login(token) is None
    with pytest.raises(StudyError, match="exists"):
        db.invite("alice")
    fresh = db.invite("alice", renew=True)
    assert db.login(token) is None and db.login(fresh) is not None


def test_overlap_items_get_their_raters_and_no_more(db):
    people = [signed_in(db, f"r{i}")[0] for i in range(3)]
    served: Counter[str] = Counter()
    for _ in range(12):
        for s in people:
            item = db.current_item(s)
            if item:
                served[item["id"]] += 1
                db.vote(s, item["id"], "A", "")
    want = {it.id: it.raters for it in db.study.items}
    assert served == Counter(want)  # every slot filled once, no item over-served
    assert sum(want.values()) == stored_votes(db) == 15


def test_racing_raters_never_share_a_single_slot(tmp_path):
    study = make_study(2, 40, overlap_share=0)
    store = StudyDB(sqlite_url(tmp_path / "race.sqlite"), study)
    people = [signed_in(store, f"r{i}")[0] for i in range(8)]
    errors = []

    def work(s):
        try:
            while (item := store.current_item(s)) is not None:
                store.vote(s, item["id"], "B", "")
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    votes = store.votes()
    assert len(votes) == 40 and len({v["item_id"] for v in votes}) == 40
    store.close()


def test_database_serves_one_study(tmp_path):
    url = sqlite_url(tmp_path / "h.sqlite")
    StudyDB(url, make_study(seed=1)).close()
    with pytest.raises(StudyError, match="serves study"):
        StudyDB(url, make_study(seed=2))


def test_pii_flagged_items_kept_out_until_reviewed(tmp_path):
    from train.eval.human.pii import PiiDetector
    from train.eval.human.questions import load_review, screen, write_review

    detector = PiiDetector()
    questions = [
        ("1", "I'm Laura Jennings, reach me at laura.j@example.com. Is 145/95 high blood pressure?"),
        ("2", "Is ibuprofen safe with paracetamol for three days?"),
        ("3", "My husband John Carter has chest pain when he climbs stairs. What should he do?"),
    ]
    first = screen(questions, detector, {})
    assert [q for q, _ in first.kept] == ["2"] and first.pending == ["1", "3"]
    flagged = {r["question_id"]: r for r in first.review}
    assert "Laura Jennings" not in flagged["1"]["masked"] and "<EMAIL_ADDRESS>" in flagged["1"]["masked"]
    assert {"PERSON", "EMAIL_ADDRESS"} <= {f["type"] for f in flagged["1"]["findings"]}
    path = write_review(first, tmp_path / "pii_review.json")
    body = json.loads(path.read_text())
    body["items"][0]["decision"], body["items"][1]["decision"] = "mask", "drop"
    path.write_text(json.dumps(body))
    second = screen(questions, detector, load_review(path))
    assert dict(second.kept)["1"] == flagged["1"]["masked"] and second.dropped == ["3"] and not second.pending
    edited = [("1", questions[0][1] + " Thanks!"), *questions[1:]]
    assert screen(edited, detector, load_review(path)).pending == [
        "1"
    ]  # an edited question is reviewed again
    body["items"][0]["decision"] = "maybe"
    path.write_text(json.dumps(body))
    with pytest.raises(StudyError, match="not one of"):
        load_review(path)


def test_prepare_through_the_generation_client_cached(tmp_path, monkeypatch):
    from tiny_models import tiny_server

    from train.eval.human.prepare import ModelProfile, prepare

    server = tiny_server()
    monkeypatch.setenv("HUMAN_TEST_KEY", server.api_key)
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"id": f"q{i}", "text": f"What helps with symptom {i}?"}) + "\n"
                                 for i in range(6)))  # fmt: skip
    sampling = {"temperature": 0.7, "max_tokens": 12, "seed": 0}
    profiles = [
        ModelProfile(label="plain", model=server.model, server=server.base_url, api_key_env="HUMAN_TEST_KEY",
                     system_prompt="", sampling=sampling),
        ModelProfile(label="prompted", model=server.model, server=server.base_url, api_key_env="HUMAN_TEST_KEY",
                     system_prompt="You are a careful medical assistant.", sampling=sampling),
    ]  # fmt: skip
    study, summary = prepare(tmp_path / "study", questions, profiles, Design(overlap_share=0.5), pii=False)
    assert summary["items"] == 6 and summary["generation"]["m1"]["sent"] == 6
    assert [m.system_prompt for m in study.models] == [None, "You are a careful medical assistant."]
    assert {m.system_prompt_source for m in study.models} == {"profile"}
    assert study.models[0].backend["base_url"] == server.base_url
    assert load_study(tmp_path / "study").study_id == study.study_id
    again, summary = prepare(tmp_path / "study", questions, profiles, Design(overlap_share=0.5), pii=False)
    assert summary["generation"]["m1"]["sent"] == summary["generation"]["m2"]["sent"] == 0
    assert again.study_id == study.study_id
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "text": "fine"}\n{"id": 2, "body": "no text field"}\n')
    with pytest.raises(StudyError, match=r"bad.jsonl:2: no question text"):
        prepare(tmp_path / "s2", bad, profiles, Design(), pii=False)


def vote_all(store: StudyDB, plan: dict[str, str]) -> None:
    """Raters named in ``plan`` take turns voting for the model whose key is given (or 'none'), through the
    real DB, until no item is left."""
    people = {signed_in(store, name)[0]: wanted for name, wanted in plan.items()}
    while people:
        for s, wanted in list(people.items()):
            item = store.current_item(s)
            if item is None:
                del people[s]
                continue
            row = next(it for it in store.study.items if it.id == item["id"])
            choice = "none" if wanted == "none" or wanted not in (row.left, row.right) else (
                "A" if row.left == wanted else "B")  # fmt: skip
            store.vote(s, item["id"], choice, "cannot tell" if choice == "none" else "")


def test_results_match_the_votes_and_reach_compare(tmp_path):
    from scipy.stats import binomtest

    from train.eval.compare import item_scores
    from train.eval.human.results import study_results, write_study_results
    from train.eval.results import load_results

    folders = [tmp_path / f"model{i}" for i in range(3)]
    for f in folders:
        f.mkdir()
    study = make_study(3, 30, folders=folders, overlap_share=0.4, overlap_raters=2)
    store = StudyDB(sqlite_url(tmp_path / "h.sqlite"), study)
    vote_all(store, {"alice": "m1", "bob": "m1", "carol": "none"})  # m1 wins whenever it is shown
    votes = store.votes()
    res = study_results(study, votes, bootstrap=200)
    entry = res["benchmarks"]["demo"]
    assert entry["votes"] == len(votes) == sum(it.raters for it in study.items)
    for p in entry["pairings"]:
        mine = [v for v in votes if {v["label_a"], v["label_b"]} == set(p["pair"])]
        k = sum(v["winner_label"] == p["pair"][0] for v in mine)
        n = sum(v["winner"] is not None for v in mine)
        assert (p["first_preferred"]["k"], p["first_preferred"]["n"], p["votes"]) == (k, n, len(mine))
        if n:
            assert p["first_preferred"]["p_value"] == pytest.approx(binomtest(k, n).pvalue, abs=1e-6)
        assert p["cant_decide"]["reasons"] == ["cannot tell"] * p["cant_decide"]["n"]
    bt = entry["bradley_terry"]["models"]
    assert bt["secret-model-1"]["strength"] > max(
        bt["secret-model-2"]["strength"], bt["secret-model-3"]["strength"]
    )
    assert entry["agreement"]["items"] == 12 and entry["agreement"]["krippendorff_alpha"] is not None
    assert set(entry["raters"]) == {"alice", "bob", "carol"}
    assert entry["raters"]["carol"]["cant_decide"] == entry["raters"]["carol"]["votes"]
    paths = write_study_results(tmp_path / "study", study, res, votes)
    assert len(paths) == 4 and load_results(tmp_path / "study")["human"]["eval"] == "human"
    per_model = json.loads((folders[0] / "eval" / "human" / "results.json").read_text())
    assert per_model["benchmarks"]["demo"]["preferred"] == 1.0
    scores = item_scores(folders[0] / "eval")[("human", "demo", "preferred by raters")]
    assert set(scores.values()) == {1.0} and len(scores) == per_model["benchmarks"]["demo"]["n"]
    store.close()
