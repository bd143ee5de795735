"""Perturbations for bench/decontam_eval.py: a benchmark item -> a training row that copies it, changed.

Kinds (``PERTURBATIONS``); every change is random per item (seeded):

- ``exact``: the MCQA item as it is.
- ``format``: case, punctuation and whitespace changed, options too.
- ``shuffle``: options in another order.
- ``embed``: context + question + labelled shuffled options inside an instruction prompt (a QA row).
- ``edit``: one word edit per 12 words (substitution by a random word, deletion, insertion, letter swap).
- ``typo``: character typos in ~1 of 6 words of 4+ letters (at least one), options too: a neighbour
  key, a dropped, doubled or inserted letter, two letters swapped.
- ``abbrev``: clinical shorthand from ``SHORTHAND_OUT`` below, applied to every place it fits. The list was
  written apart from the detector's table (``filters.decontam.text.SHORTHAND``) and holds forms that table
  lacks (``exam``, ``labs``, ``HR``, ``min``, ``h``, ``d``, ``M``/``F``, ``&``, ``~``, ``2/2``, ``c/w``, ``↑``...).
- ``truncate``: the first 50-80% of the stem's words, at least 8 (a distinctive part); options kept.
- ``partial``: a contiguous span of half the stem, at least 8 words; options kept, shuffled.
- ``partial_stem``: a 50% span alone in a QA prompt, no options (scored on spans of 20+ words).
- ``partial_short``: a 50% span of any length (3 words of a 6-word question), options kept, shuffled:
  reported, but half of a short question is not distinctive (no goal).
- ``option_reword``: the question kept; each option reworded (synonyms, word order, a leading article or
  "only", a plural, shorthand) and the options shuffled.
- ``mixed``: shorthand, then typos (half the rate), options shuffled, inside a prompt (a QA row).
- ``rephrase_mcq`` / ``rephrase_stem``: a question rewritten by the local model (bench/data/decontam/
  rephrased.jsonl), with the original options shuffled (MCQA row) / alone (QA row).
"""

from __future__ import annotations

import random
import re

from factory.mcqa.options import render_options
from factory.rows import make_row

PERTURBATIONS = ("exact", "format", "shuffle", "embed", "edit", "typo", "abbrev", "truncate", "partial",
                 "partial_stem", "option_reword", "mixed", "partial_short")  # fmt: skip
REPHRASED = ("rephrase_mcq", "rephrase_stem")
PROMPTS = [
    ("You are a medical expert. Read the question below carefully and answer it.\n\n", "\n\nThink step by step and give the letter of the answer."),
    ("Here is a practice question from my exam prep notes, can you explain it to me?\n", "\nPlease explain why the other options are wrong."),
    ("### Instruction:\nAnswer the following multiple-choice question.\n### Input:\n", "\n### Response:"),
]  # fmt: skip
SHORTHAND_OUT = [  # (pattern, replacements): how clinicians and students shorten exam text
    (r"\b(\d+)-year-old\b", [r"\1 yo", r"\1yo", r"\1 y/o", r"\1-yo", r"\1 yr old"]),
    (r"\bpatients\b", ["pts"]), (r"\bpatient\b", ["pt", "pt."]), (r"\bhistory of\b", ["hx of", "h/o"]),
    (r"\bwith\b", ["w/"]), (r"\bwithout\b", ["w/o"]), (r"\bhypertension\b", ["HTN"]),
    (r"\bdiabetes mellitus\b", ["DM"]), (r"\bemergency department\b", ["ED", "ER"]),
    (r"\bshortness of breath\b", ["SOB"]), (r"\bblood pressure\b", ["BP"]), (r"\bheart rate\b", ["HR"]),
    (r"\brespiratory rate\b", ["RR"]), (r"\btemperature\b", ["temp", "T"]), (r"\bminutes\b", ["min"]),
    (r"\bhours\b", ["hrs", "h"]), (r"\bdays\b", ["d"]), (r"\bweeks\b", ["wks"]), (r"\bmonths\b", ["mo"]),
    (r"\bman\b", ["M", "male"]), (r"\bwoman\b", ["F", "female"]), (r"\bexamination\b", ["exam"]),
    (r"\blaboratory studies\b", ["labs"]), (r"\bcomplains of\b", ["c/o"]), (r"\bmyocardial infarction\b", ["MI"]),
    (r"\bintravenous\b", ["IV"]), (r"\band\b", ["&"]), (r"\bapproximately\b", ["~", "approx."]),
    (r"\bbilateral\b", ["b/l"]), (r"\bdiagnosis\b", ["dx"]), (r"\btreatment\b", ["tx"]),
    (r"\bsymptoms\b", ["sx", "sxs"]), (r"\bsecondary to\b", ["2/2"]), (r"\bconsistent with\b", ["c/w"]),
    (r"\bincreased\b", ["↑", "incr."]), (r"\bdecreased\b", ["↓", "decr."]), (r"\bnormal\b", ["nl"]),
    (r"\bpresents\b", ["p/w", "presents"]), (r"\bphysician\b", ["doc", "MD"]), (r"\bchest pain\b", ["CP"]),
    (r"\bfever\b", ["fever", "febrile"]), (r"\babdominal\b", ["abd"]), (r"\bprevious\b", ["prev"]),
]  # fmt: skip
SYNONYMS = {"increased": "elevated", "decreased": "reduced", "elevated": "increased", "reduced": "decreased",
            "is": "being", "are": "being", "of": "in", "the": "a", "and": "&", "with": "plus",
            "inhibition": "blocking", "deficiency": "lack", "syndrome": "disease", "disease": "disorder",
            "high": "raised", "low": "lowered", "large": "big", "small": "little", "due": "owing"}  # fmt: skip
KEYS = "qwertyuiop asdfghjkl zxcvbnm"


def _format(text: str, rng: random.Random) -> str:
    case = rng.choice([str.upper, str.lower, str.title, str.swapcase])
    out = []
    for ch in case(text):
        if ch in ".,;:?!()'\"-" and rng.random() < 0.5:
            out.append(rng.choice(["", " ", ch * 2, " ; "]))
        elif ch == " " and rng.random() < 0.3:
            out.append(rng.choice(["  ", "\n", "\t", " \n "]))
        else:
            out.append(ch)
    return "".join(out)


def _edit(text: str, rng: random.Random, vocab: list[str]) -> str:
    words = text.split()
    if not words:
        return text
    for _ in range(max(1, len(words) // 12)):
        i, op = rng.randrange(len(words)), rng.choice(["sub", "del", "ins", "typo"])
        if op == "sub":
            words[i] = rng.choice(vocab)
        elif op == "del" and len(words) > 2:
            del words[i]
        elif op == "ins":
            words.insert(i, rng.choice(vocab))
        elif len(words[i]) > 3:
            w, j = words[i], rng.randrange(len(words[i]) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def _typo_word(w: str, rng: random.Random) -> str:
    j = rng.randrange(len(w) - 1)
    op = rng.choice(["key", "drop", "double", "swap", "insert"])
    if op == "key" and w[j].lower() in KEYS:
        k = KEYS.index(w[j].lower())
        near = [c for c in KEYS[max(0, k - 1) : k + 2] if c not in (" ", w[j].lower())]
        return w[:j] + rng.choice(near) + w[j + 1 :] if near else w
    if op == "drop":
        return w[:j] + w[j + 1 :]
    if op == "double":
        return w[: j + 1] + w[j] + w[j + 1 :]
    if op == "insert":
        return w[:j] + rng.choice("aeiourst") + w[j:]
    return w[:j] + w[j + 1] + w[j] + w[j + 2 :]


def typos(text: str, rng: random.Random, rate: float = 1 / 6) -> str:
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(re.sub(r"\W", "", w)) >= 4]
    if not idx:
        return text
    chosen = [i for i in idx if rng.random() < rate] or [rng.choice(idx)]
    for i in chosen:
        words[i] = _typo_word(words[i], rng)
    return " ".join(words)


def shorthand(text: str, rng: random.Random) -> str:
    for pattern, subs in SHORTHAND_OUT:
        text = re.sub(pattern, lambda m, s=subs: m.expand(rng.choice(s)), text, flags=re.I)
    return text


def reword_option(option: str, rng: random.Random) -> str:
    words = option.split()
    ops = ["synonym", "order", "article", "plural", "shorthand"]
    rng.shuffle(ops)
    for op in ops[:2]:
        if op == "synonym" and any(w.lower() in SYNONYMS for w in words):
            i = rng.choice([i for i, w in enumerate(words) if w.lower() in SYNONYMS])
            words[i] = SYNONYMS[words[i].lower()]
        elif op == "order" and len(words) >= 2:
            words = (
                words[1:] + [words[0].lower()]
                if len(words) <= 3
                else words[len(words) // 2 :] + words[: len(words) // 2]
            )
        elif op == "article":
            words = [rng.choice(["The", "Only", "A", "Mainly"])] + words
        elif op == "plural" and words and words[-1][-1:].isalpha():
            words[-1] = words[-1][:-1] if words[-1].endswith("s") else words[-1] + "s"
        elif op == "shorthand":
            words = shorthand(" ".join(words), rng).split()
    return " ".join(words)


def plant(item: dict, how: str, rng: random.Random, vocab: list[str], n: int) -> tuple[dict, int]:
    """A training row copying ``item`` under perturbation ``how``; and the copied stem's word count."""
    q, ctx, opts = item["question"], item.get("context") or "", list(item.get("options") or [])
    shuffled = rng.sample(opts, len(opts))
    rid = f"plant:{how}:{n}"
    stem = (ctx + " " + q).split()

    def mcqa(question, options, context=None):
        return make_row(id=rid, source="planted", kind="mcqa", question=question, context=context or None,
                        options=options, answer_idx=0)  # fmt: skip

    def qa(prompt):
        pre, post = rng.choice(PROMPTS)
        return make_row(id=rid, source="planted", kind="qa", question=pre + prompt + post, answer="...")

    if how in ("partial", "partial_stem", "truncate", "partial_short"):
        k = max(1, len(stem) // 2) if how != "truncate" else max(1, round(len(stem) * rng.uniform(0.5, 0.8)))
        k = min(len(stem), max(k, 8)) if how in ("partial", "truncate") else k
        start = rng.randrange(len(stem) - k + 1) if how != "truncate" else 0
        span = " ".join(stem[start : start + k])
        if how == "partial_stem":
            return qa(span), k
        return mcqa(span, opts if how == "truncate" else shuffled), k
    if how == "exact":
        return mcqa(q, opts, ctx), len(stem)
    if how == "format":
        return mcqa(_format(q, rng), [_format(o, rng) for o in opts], _format(ctx, rng)), len(stem)
    if how == "shuffle":
        return mcqa(q, shuffled, ctx), len(stem)
    if how == "embed":
        return qa((ctx + "\n" if ctx else "") + q + "\n" + render_options(shuffled)), len(stem)
    if how == "edit":
        return mcqa(_edit(q, rng, vocab), opts, _edit(ctx, rng, vocab) if ctx else None), len(stem)
    if how == "typo":
        return mcqa(typos(q, rng), [typos(o, rng) for o in opts], typos(ctx, rng) if ctx else None), len(stem)
    if how == "abbrev":
        return mcqa(shorthand(q, rng), [shorthand(o, rng) for o in opts], shorthand(ctx, rng)), len(stem)
    if how == "option_reword":
        return mcqa(q, [reword_option(o, rng) for o in shuffled], ctx), len(stem)
    if how == "mixed":
        body = typos(shorthand((ctx + "\n" if ctx else "") + q, rng), rng, 1 / 12)
        options = render_options([typos(shorthand(o, rng), rng, 1 / 12) for o in shuffled])
        return qa(body + "\n" + options), len(stem)
    raise ValueError(how)


def plant_rephrased(rec: dict, how: str, rng: random.Random, n: int) -> dict:
    """A row from a model-rephrased item (bench/data/decontam/rephrased.jsonl)."""
    rid = f"plant:{how}:r{n}"
    opts = list(rec.get("options") or [])
    if how == "rephrase_mcq" and opts:
        return make_row(id=rid, source="planted", kind="mcqa", question=rec["rephrased"],
                        options=rng.sample(opts, len(opts)), answer_idx=0)  # fmt: skip
    return make_row(id=rid, source="planted", kind="qa", question=rec["rephrased"], answer="...")
