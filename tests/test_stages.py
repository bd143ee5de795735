"""Unit tests of the first stages on inline rows; each body runs in process and on Ray Data."""

from __future__ import annotations

from factory.rows import make_row
from factory.stages.chat import ToChat
from factory.stages.mix import Mix
from factory.testing import run_stage
from filters.clean.cleaning import LanguageId, LengthFilter, Normalize, Threshold
from filters.dedup.exact import ExactDedup


def qa(i, question, answer, source="s"):
    return make_row(id=f"{source}:{i}", source=source, kind="qa", question=question, answer=answer)


def mcqa(i, question, options, answer_idx, source="m", **kw):
    return make_row(
        id=f"{source}:{i}",
        source=source,
        kind="mcqa",
        question=question,
        options=options,
        answer_idx=answer_idx,
        **kw,
    )


def test_normalize_cleans_every_text(executor):
    rows = [
        qa(
            0,
            "What is  asthma?\u200b Visit https://example.org/asthma now",
            "As an AI language model, I cannot diagnose. Asthma is a chronic disease of the airways.\n\n\n\nIt narrows them.",
        ),
        qa(1, "Mail me at doc@example.com ( ) please", "Ｆｕｌｌｗｉｄｔｈ text\x07 here."),
        mcqa(2, "Which\tdrug?", ["Aspirin ", " www.drugs.com", "Ibuprofen"], 0),
        qa(3, "Only a link", "https://example.org/only-a-link"),
    ]
    kept, drops, stats = run_stage(Normalize(), rows, executor)
    by_id = {r["id"]: r for r in kept}
    assert by_id["s:0"]["question"] == "What is asthma? Visit now"
    assert by_id["s:0"]["answer"] == "Asthma is a chronic disease of the airways.\n\nIt narrows them."
    assert by_id["s:1"]["question"] == "Mail me at please"
    assert by_id["s:1"]["answer"] == "Fullwidth text here."
    assert by_id["m:2"]["question"] == "Which drug?"
    assert by_id["m:2"]["options"] == ["Aspirin", "", "Ibuprofen"]
    assert [(d["id"], d["reason"], d["detail"]) for d in drops] == [("s:3", "empty_after_clean", "answer")]
    assert stats["rows_in"] == 4 and stats["rows_out"] == 3 and stats["dropped"] == {"empty_after_clean": 1}


def test_normalize_can_drop_boilerplate_rows(executor):
    rows = [qa(0, "q", "As an AI language model I can't."), qa(1, "q", "A real answer.")]
    kept, drops, _ = run_stage(Normalize(boilerplate_action="drop_row"), rows, executor)
    assert [r["id"] for r in kept] == ["s:1"]
    assert drops[0]["reason"] == "boilerplate" and drops[0]["detail"].lower() == "as an ai language model"


def test_length_filter_bounds(executor):
    rows = [
        qa(0, "Short?", "Ok."),
        qa(1, "A reasonable question here?", "A full answer with words."),
        qa(2, "x" * 50, "y" * 500),
    ]
    stage = LengthFilter(min_chars=15, max_chars=300, min_response_chars=5)
    kept, drops, _ = run_stage(stage, rows, executor)
    assert [r["id"] for r in kept] == ["s:1"]
    assert {d["id"]: d["reason"] for d in drops} == {"s:0": "too_short", "s:2": "too_long"}
    kept, drops, _ = run_stage(LengthFilter(min_response_chars=5), rows[:1], executor)
    assert drops[0]["reason"] == "response_too_short"


def test_language_id_scores_then_threshold_decides(executor):
    rows = [
        qa(
            0,
            "What are the symptoms of type 2 diabetes?",
            "Increased thirst, frequent urination and fatigue are common.",
        ),
        qa(
            1,
            "¿Cuáles son los síntomas de la diabetes tipo 2?",
            "La sed excesiva, la micción frecuente y el cansancio son frecuentes.",
        ),
        qa(
            2,
            "Quels sont les symptômes du diabète de type 2 ?",
            "Une soif intense, des mictions fréquentes et de la fatigue.",
        ),
    ]
    scored, _, _ = run_stage(LanguageId(), rows, executor)
    assert [r["lang"] for r in scored] == ["en", "es", "fr"]
    assert all(0.5 < r["lang_score"] <= 1.0 for r in scored)
    extra = dict(LanguageId().adds)
    kept, drops, _ = run_stage(
        Threshold(column="lang", allowed=["en"], reason="not_english"), scored, executor, extra
    )
    assert [r["id"] for r in kept] == ["s:0"]
    assert {d["reason"] for d in drops} == {"not_english"}
    kept, drops, _ = run_stage(Threshold(column="lang_score", min=1.01), scored, executor, extra)
    assert kept == [] and all(d["reason"] == "lang_score_filtered" for d in drops)


def test_exact_dedup_keeps_first_and_names_it(executor):
    rows = [
        qa(0, "What causes gout?", "Uric acid crystals."),
        qa(1, "what causes  GOUT", "uric acid crystals!"),
        qa(2, "What causes gout?", "Something else."),
        mcqa(3, "What causes gout?", ["Uric acid crystals."], 0),
    ]
    kept, drops, stats = run_stage(ExactDedup(), rows, executor)
    assert [r["id"] for r in kept] == ["s:0", "s:2", "m:3"]
    assert [(d["id"], d["reason"], d["detail"]) for d in drops] == [
        ("s:1", "exact_duplicate", "duplicate_of=s:0")
    ]
    assert stats["report"] == {"distinct": 3, "duplicates": 1}
    kept, drops, _ = run_stage(ExactDedup(on="question"), rows, executor)
    assert [r["id"] for r in kept] == ["s:0", "m:3"]


def test_to_chat_renders_each_kind(executor):
    rows = [
        mcqa(
            0,
            "Which vitamin deficiency causes scurvy?",
            ["Vitamin A", "Vitamin C", "Vitamin D"],
            1,
            context="A sailor...",
        ),
        qa(1, "What is a fever?", "A body temperature above 38 °C."),
        make_row(
            id="c:2",
            source="c",
            kind="chat",
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        ),
        make_row(
            id="p:3",
            source="p",
            kind="preference",
            prompt=[{"role": "user", "content": "q"}],
            chosen=[{"role": "assistant", "content": "good"}],
            rejected=[{"role": "assistant", "content": "bad"}],
        ),
        make_row(id="h:4", source="h", kind="prompt", question="a request"),
    ]
    kept, drops, _ = run_stage(ToChat(system_prompt="You are a medical assistant."), rows, executor)
    assert drops == []
    m = {r["id"]: r for r in kept}
    sys_turn = {"role": "system", "content": "You are a medical assistant."}
    assert m["m:0"]["messages"] == [
        sys_turn,
        {
            "role": "user",
            "content": "A sailor...\n\nWhich vitamin deficiency causes scurvy?\n\nA. Vitamin A\nB. Vitamin C\nC. Vitamin D",
        },
        {"role": "assistant", "content": "The answer is B. Vitamin C"},
    ]
    assert m["s:1"]["messages"][1:] == [
        {"role": "user", "content": "What is a fever?"},
        {"role": "assistant", "content": "A body temperature above 38 °C."},
    ]
    assert m["c:2"]["messages"][0] == sys_turn and len(m["c:2"]["messages"]) == 3
    assert m["p:3"]["prompt"][0] == sys_turn and m["p:3"]["chosen"] == [
        {"role": "assistant", "content": "good"}
    ]
    assert m["h:4"]["messages"] is None


def test_apply_to_limits_a_stage_to_some_rows(executor):
    rows = [qa(0, "q", "a", source="x"), qa(1, "q", "a", source="y")]
    kept, drops, _ = run_stage(LengthFilter(min_chars=100, apply_to={"sources": ["x"]}), rows, executor)
    assert [r["id"] for r in kept] == ["y:1"] and [d["id"] for d in drops] == ["x:0"]


def test_mix_caps_and_weights_are_deterministic(executor):
    rows = [qa(i, f"question {i}", "answer", source="a") for i in range(60)]
    rows += [qa(i, f"question {i}", "answer", source="b") for i in range(20)]
    rows += [qa(i, f"question {i}", "answer", source="c") for i in range(5)]
    stage = Mix(weights={"a": 0.5, "b": 0.5}, caps={"c": 3}, seed=1)
    kept, drops, stats = run_stage(stage, rows, executor)
    count = {s: sum(r["source"] == s for r in kept) for s in "abc"}
    assert count == {"a": 20, "b": 20, "c": 3}
    assert {d["reason"] for d in drops} == {"mix_weight", "mix_cap"}
    groups = stats["report"]["groups"]
    assert groups["a"] == {"available": 60, "kept": 20, "share": round(20 / 43, 4)}
    again, _, _ = run_stage(stage, list(reversed(rows)), executor)
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in kept)  # order-independent choice
    other_seed, _, _ = run_stage(Mix(weights={"a": 0.5, "b": 0.5}, caps={"c": 3}, seed=2), rows, executor)
    assert sorted(r["id"] for r in other_seed) != sorted(r["id"] for r in kept)
