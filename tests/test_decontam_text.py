"""The decontamination normaliser: shorthand, stems, typo fixing, batch encoding (options inside prompts:
test_mcqa.py)."""

from __future__ import annotations

from filters.decontam.text import Encoder, TypoFixer, tokens


def test_shorthand_and_long_forms_give_the_same_tokens():
    short = tokens("45yo pt w/ hx of HTN & DM p/w SOB, s/p MI; b/l leg swelling w/o fever")
    long = tokens(
        "A 45-year-old patient with history of hypertension & diabetes mellitus presents with shortness of "
        "breath, status post myocardial infarction; bilateral legs swelling without fevers"
    )
    assert [t for t in short if t != "a"] == [t for t in long if t != "a"]
    assert tokens("Increased, increases, INCREASING") == ["increas"] * 3
    assert tokens("and/or 5 mg/dL, 1/2, Glomerulus") == ["and", "or", "5", "mg", "dl", "1", "2", "glomerulus"]


def test_typo_fixer_finds_the_benchmark_word_one_edit_away():
    vocab = ["glossopharyngeal", "nerve", "hypertension", "test", "best", "tests"]
    fixer = TypoFixer(vocab, {"test": 50, "best": 3, "nerve": 9, "hypertension": 4, "glossopharyngeal": 2})
    assert fixer.fix("glosopharyngeal") == "glossopharyngeal"  # a letter dropped
    assert fixer.fix("hypertensoin") == "hypertension"  # two letters swapped
    assert fixer.fix("nerrve") == "nerve"  # a letter doubled
    assert fixer.fix("nervr") == "nerve"  # a letter replaced
    assert fixer.fix("tect") == "test"  # the most used of the words one edit away
    assert fixer.fix("hypotension") is None and fixer.fix("ner") is None  # two edits away; too short


def test_encoder_matches_tokens_over_a_batch():
    text = ["A 45-year-old patient with a history of hypertension", "Glossopharyngeal nerve tests"]
    vocab = {"": 0}
    for t in tokens(" ".join(text)):
        vocab.setdefault(t, len(vocab))
    enc = Encoder(vocab, TypoFixer(vocab, {}))
    batch = ["45 yo pt w/ hx of HTN", "", "Glosopharyngeal nervs tset", "unknown words only"]
    ids, lengths = enc.encode(batch)
    assert lengths.tolist() == [8, 0, 3, 3]
    want = [vocab[t] for t in tokens("45 year old patient with history of hypertension glossopharyngeal")]
    assert ids[:9].tolist() == want
    assert ids[9:11].tolist() == [vocab["nerv"], vocab["test"]] and ids[11:].tolist() == [0, 0, 0]
    again, _ = enc.encode(batch)  # remembered answers give the same ids
    assert again.tolist() == ids.tolist()
