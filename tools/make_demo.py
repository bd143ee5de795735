#!/usr/bin/env python3
"""Write the small demo data that ``recipes/quickstart.yaml`` builds offline.

In: the hand-written texts in ``tools/demo_texts/`` (JSON, one file per table; the README template is
``readme_template.md``). Every text there was written for aloe-factory (licence: Apache-2.0, like the
project); nothing is copied from a public dataset. This script holds only the logic that turns those tables
into the demo files and plants defects in them.

Out: these files, in ``--out`` (default ``recipes/data/quickstart/``). The output is deterministic: run
``python tools/make_demo.py`` and the same bytes come out every time (stdlib only, fixed seeds).

- ``mcqa.jsonl``         MedQA-style multiple choice (gersteinlab/medagents-benchmark layout)
- ``open_qa.jsonl``      MedQuAD-like consumer-health questions and answers
- ``instructions.json``  Alpaca-format instruction list (one JSON array)
- ``preferences.jsonl``  prompt / chosen / rejected pairs for DPO
- ``bad_lines.jsonl``    6 open_qa lines, line 3 malformed JSON, line 5 without "question" (for tests)
- ``README.md``          what each file holds and which defects were planted, with counts

Defects are planted on purpose so that every cleaning stage has work to do: exact and near duplicates,
URLs and e-mail addresses, control / zero-width characters and messy whitespace, non-English rows,
"As an AI language model" boilerplate, junk answers, and empty answers for bad-input handling.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
TEXTS = TOOLS / "demo_texts"
DEFAULT_OUT = TOOLS.parent / "recipes" / "data" / "quickstart"
SEED = 20250601

Row = dict[str, Any]
Report = dict[str, Any]

MCQA_UNIQUE = 135  # unique questions before planted duplicates
PREF_EXACT_DUP = [1, 25]  # indices in preferences.json duplicated verbatim (one medical, one general)

# near-duplicate variants: same question up to whitespace, case and punctuation
NEAR_DUP_EDITS: list[tuple[str, Callable[[str], str]]] = [
    ("lower-cased", lambda q: q.lower()),
    ("doubled spaces and trailing blank", lambda q: q.replace(". ", ".  ").replace(", ", " ,  ") + "  "),
    ("punctuation removed", lambda q: q.replace(",", "").replace(".", "").replace("?", "")),
    ("line breaks between sentences", lambda q: q.replace(". ", ".\n").replace("? ", "?\n")),
    ("upper-cased, final '?' doubled", lambda q: q.upper().rstrip("?") + "??"),
]


def load_texts(folder: Path = TEXTS) -> dict[str, Any]:
    """Every ``*.json`` table in ``folder``, keyed by file stem, plus the README template as ``readme``."""
    texts = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
    texts["readme"] = (folder / "readme_template.md").read_text(encoding="utf-8")
    return texts


# ---------------------------------------------------------------------------------------------------------
# 1. MCQA: a table of conditions; each can yield up to four questions (diagnosis, next step, treatment,
#    mechanism). Distractors for a question are the same field of other conditions in the same organ system.
# ---------------------------------------------------------------------------------------------------------


def _split_ask(text: str) -> tuple[str, str]:
    """A stem that carries its own question: (the sentences before it, the last sentence)."""
    stem, _, ask = text.rpartition(". ")
    return stem + ".", ask


def _mcqa_templates(conditions: list[Row], asks: dict[str, list[str]]) -> list[Row]:
    """Every (condition, question kind) pair that has text, as dicts with cond/kind/stem/ask."""
    out = []
    for i, c in enumerate(conditions):
        out.append(dict(cond=c, kind="dx", stem=c["dx_stem"], ask=asks["dx"][i % 3]))
        if c["step_stem"]:
            out.append(dict(cond=c, kind="step", stem=c["step_stem"], ask=asks["step"][i % 3]))
        if c["tx_stem"]:
            s = c["tx_stem"]
            stem, ask = _split_ask(s) if s.endswith("?") else (s, asks["tx"][i % 3])
            out.append(dict(cond=c, kind="tx", stem=stem, ask=ask))
        m = c["mech_stem"]
        stem, ask = _split_ask(m) if ". " in m else ("", m)
        out.append(dict(cond=c, kind="mech", stem=stem, ask=ask))
    return out


def _distractors(rng: random.Random, conditions: list[Row], cond: Row, field: str) -> list[str]:
    right = cond[field]
    same = sorted(
        {c[field] for c in conditions if c is not cond and c["system"] == cond["system"] and c[field]}
        - {right}
    )
    pick = rng.sample(same, min(3, len(same)))
    if len(pick) < 3:
        other = sorted(
            {c[field] for c in conditions if c["system"] != cond["system"] and c[field]} - {right} - set(pick)
        )
        pick += rng.sample(other, 3 - len(pick))
    return pick


def _join(stem: str, ask: str) -> str:
    return f"{stem} {ask}".strip()


def _pii_edit(edit: Row, stem: str, ask: str) -> tuple[str, str]:
    """Put the edit's ``before`` / ``after`` text around its ``part`` (``stem`` or ``ask``)."""
    parts = {"stem": stem, "ask": ask}
    parts[edit["part"]] = edit.get("before", "") + parts[edit["part"]] + edit.get("after", "")
    return parts["stem"], parts["ask"]


def _weird(text: str, step: int) -> str:
    """Insert zero-width / control characters and messy whitespace."""
    words = text.split(" ")
    if step == 0:  # BOM, zero-width spaces inside words, doubled spaces
        words[2] = words[2][:2] + "\u200b" + words[2][2:]
        words[7] = words[7][:3] + "\u200b" + words[7][3:]
        return "\ufeff" + "  ".join(words)
    if step == 1:  # bell / escape control characters, CRLF and tabs
        words[4] = words[4] + "\x07"
        words[9] = "\x1b" + words[9]
        return "\t" + " ".join(words[:12]) + "\r\n" + " ".join(words[12:]) + " \t "
    # non-breaking spaces, soft hyphen, zero-width joiner, blank lines
    out = " ".join(words).replace(", ", ",\u00a0", 2)
    out = out.replace("ation", "a\u00adtion", 1).replace("the ", "the\u200d ", 1)
    return "   " + out.replace(". ", ".\n\n   ", 1) + "\n"


def _mcqa_base(rng: random.Random, texts: dict[str, Any]) -> list[Row]:
    """The distinct questions: every diagnosis question plus a sample of the others, with shuffled options."""
    conditions = texts["conditions"]
    templates = _mcqa_templates(conditions, texts["mcqa_texts"]["asks"])
    dx = [t for t in templates if t["kind"] == "dx"]
    rest = [t for t in templates if t["kind"] != "dx"]
    chosen = dx + rng.sample(rest, MCQA_UNIQUE - len(dx))
    rng.shuffle(chosen)
    base = []
    for t in chosen:
        c, f = t["cond"], t["kind"]
        opts = [c[f]] + _distractors(rng, conditions, c, f)
        rng.shuffle(opts)
        letters = "ABCD"
        base.append(
            dict(
                stem=t["stem"],
                ask=t["ask"],
                options=dict(zip(letters, opts, strict=True)),
                answer_idx=letters[opts.index(c[f])],
                answer=c[f],
                meta_info="step1" if f == "mech" else "step2&3",
                topic=f"{c['name']}/{f}",
            )
        )
    return base


def build_mcqa(texts: dict[str, Any], report: Report) -> list[Row]:
    rng = random.Random(SEED + 1)
    rep = report["mcqa"]
    base = _mcqa_base(rng, texts)
    n = len(base)
    vignettes = [i for i, r in enumerate(base) if r["stem"]]
    near_src = rng.sample(vignettes, 5)  # near duplicates of vignette questions, so the edits show
    order = rng.sample([i for i in range(n) if i not in near_src], 17)
    exact_src, url_rows, weird_rows = order[:10], order[10:14], order[14:17]

    rows = [dict(r, question=_join(r["stem"], r["ask"])) for r in base]
    for edit, i in zip(texts["mcqa_texts"]["pii_edits"], url_rows, strict=True):
        rows[i]["question"] = _join(*_pii_edit(edit, base[i]["stem"], base[i]["ask"]))
        rep.setdefault("pii", []).append(f"{edit['label']}: {rows[i]['topic']}")
    for step, i in enumerate(weird_rows):
        rows[i]["question"] = _weird(rows[i]["question"], step)
        rep.setdefault("weird", []).append(rows[i]["topic"])
    extra = []
    for i in exact_src:
        extra.append(dict(rows[i]))
        rep.setdefault("exact_dup", []).append(rows[i]["topic"])
    for (label, edit), i in zip(NEAR_DUP_EDITS, near_src, strict=True):
        extra.append(dict(rows[i], question=edit(rows[i]["question"])))
        rep.setdefault("near_dup", []).append(f"{label}: {rows[i]['topic']}")
    rows += extra
    rng.shuffle(rows)
    keys = ("question", "options", "answer_idx", "answer", "meta_info")
    out = [{"realidx": idx, **{k: r[k] for k in keys}} for idx, r in enumerate(rows)]
    rep["rows"] = len(out)
    rep["unique"] = n
    return out


# ---------------------------------------------------------------------------------------------------------
# 2. Open QA (MedQuAD-like consumer health): (focus, qtype, answer) plus planted defects
# ---------------------------------------------------------------------------------------------------------


def _slug(s: str) -> str:
    return "-".join(s.lower().split())


def _label(row: Row) -> str:
    return f"{row['focus']} ({row['qtype']})"


def _open_qa_english(rng: random.Random, texts: dict[str, Any], rep: Report) -> list[Row]:
    """The English rows, with boilerplate, PII, exact and near duplicates planted."""
    extras = texts["open_qa_texts"]
    wordings = extras["question_wordings"]
    base = []
    for i, r in enumerate(texts["open_qa"]):
        tmpl = wordings["plain"] if i % 3 == 2 else wordings["medquad"]
        question = tmpl[r["qtype"]].format(f=r["focus"])
        base.append(dict(question=question, answer=r["answer"], focus=r["focus"], qtype=r["qtype"]))
    pick = rng.sample(range(len(base)), 18)
    boiler, pii, exact, near = pick[:8], pick[8:12], pick[12:16], pick[16:18]
    for j, i in enumerate(boiler):
        base[i]["answer"] = extras["boilerplate"][j] + " " + base[i]["answer"]
        rep.setdefault("boilerplate", []).append(_label(base[i]))
    for tail, i in zip(extras["pii_tails"], pii, strict=True):
        base[i]["answer"] = base[i]["answer"] + tail["tail"].format(slug=_slug(base[i]["focus"]))
        rep.setdefault("pii", []).append(f"{tail['label']}: {_label(base[i])}")
    rows = list(base)
    for i in exact:
        rows.append(dict(base[i]))
        rep.setdefault("exact_dup", []).append(_label(base[i]))
    a, b = near
    rows.append(dict(base[a], question="  " + base[a]["question"].lower().replace(" ", "  ") + " "))
    rows.append(dict(base[b], answer=base[b]["answer"].replace(". ", ".  ").replace(",", " ,") + "\n"))
    rep["near_dup"] = [
        f"question re-cased and re-spaced: {_label(base[a])}",
        f"answer re-spaced / re-punctuated: {_label(base[b])}",
    ]
    return rows


def build_open_qa(texts: dict[str, Any], report: Report) -> list[Row]:
    rng = random.Random(SEED + 2)
    rep = report["open_qa"]
    extras = texts["open_qa_texts"]
    rows = _open_qa_english(rng, texts, rep)
    for r in texts["non_english"]:
        rows.append(dict(question=r["question"], answer=r["answer"], focus=r["focus"]))
        rep.setdefault("non_english", []).append(r["lang"])
    for r in extras["junk"]:
        answer = (r["answer"] * r["repeat"]).strip() if "repeat" in r else r["answer"]
        rows.append(dict(question=r["question"], answer=answer, focus=r["focus"]))
        rep.setdefault("junk", []).append(f"{r['label']}: {r['focus']}")
    for r in extras["empty_answer"]:
        rows.append(dict(question=r["question"], answer="", focus=r["focus"]))
        rep.setdefault("empty_answer", []).append(r["focus"])
    rng.shuffle(rows)
    out = [
        {
            "id": f"demo-{k + 1:04d}",
            "question": r["question"],
            "answer": r["answer"],
            "source": "demo",
            "focus": r["focus"],
        }
        for k, r in enumerate(rows)
    ]
    rep["rows"] = len(out)
    rep["unique_english"] = len(texts["open_qa"])
    return out


# ---------------------------------------------------------------------------------------------------------
# 3. Instructions (Alpaca format) and 4. preferences (prompt / chosen / rejected / category)
# ---------------------------------------------------------------------------------------------------------


def build_instructions(texts: dict[str, Any], report: Report) -> list[Row]:
    rows = list(texts["instructions"])
    report["instructions"] = {"rows": len(rows), "empty_input": sum(not r["input"] for r in rows)}
    return rows


def build_preferences(texts: dict[str, Any], report: Report) -> list[Row]:
    rng = random.Random(SEED + 4)
    prefs = texts["preferences"]
    rows = list(prefs) + [dict(prefs[i]) for i in PREF_EXACT_DUP]
    rng.shuffle(rows)
    report["preferences"] = {
        "rows": len(rows),
        "exact_dup": [prefs[i]["prompt"] for i in PREF_EXACT_DUP],
        "by_category": {c: sum(r["category"] == c for r in rows) for c in ("medical", "general", "safety")},
    }
    return rows


def bad_lines(texts: dict[str, Any]) -> list[str]:
    """bad_lines.json holds records (written as JSON) and raw strings (written as they are: the bad line)."""
    return [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in texts["bad_lines"]]


# ---------------------------------------------------------------------------------------------------------
# 5. README: the template in demo_texts/ filled with the counts and lists of the report
# ---------------------------------------------------------------------------------------------------------


def _bullets(items: list[str]) -> str:
    return "\n".join(f"  - {x}" for x in items)


def readme(texts: dict[str, Any], report: Report) -> str:
    """Each report list ``L`` of section ``S`` gives ``{S_L_n}``, ``{S_L_bullets}`` and ``{S_L_list}``."""
    values: dict[str, Any] = {}
    for section, rep in report.items():
        for key, value in rep.items():
            name = f"{section}_{key}"
            if isinstance(value, list):
                values.update({f"{name}_n": len(value), f"{name}_bullets": _bullets(value)})
                values[f"{name}_list"] = ", ".join(value)
            elif isinstance(value, dict):
                values.update({f"{name}_{k}": v for k, v in value.items()})
            else:
                values[name] = value
    langs = report["open_qa"]["non_english"]
    values.update(
        n_conditions=len(texts["conditions"]),
        n_systems=len({c["system"] for c in texts["conditions"]}),
        open_qa_topics=len({r["focus"] for r in texts["open_qa"]}),
        open_qa_n_dup=values["open_qa_exact_dup_n"] + values["open_qa_near_dup_n"],
        open_qa_languages=", ".join(f"{k}: {langs.count(k)}" for k in sorted(set(langs))),
    )
    return texts["readme"].format(**values)


def _write_jsonl(path: Path, rows: list[Row]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def check(out: Path, report: Report) -> None:
    """Parse every file in ``out`` back and compare with what was written."""

    def jsonl(name: str) -> list[Row]:
        return [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]

    mcqa = jsonl("mcqa.jsonl")
    assert len(mcqa) == report["mcqa"]["rows"]
    for r in mcqa:
        assert set(r) == {"realidx", "question", "options", "answer_idx", "answer", "meta_info"}
        assert list(r["options"]) == ["A", "B", "C", "D"] and len(set(r["options"].values())) == 4
        assert r["options"][r["answer_idx"]] == r["answer"]
    assert sorted(r["realidx"] for r in mcqa) == list(range(len(mcqa)))
    oqa = jsonl("open_qa.jsonl")
    assert len(oqa) == report["open_qa"]["rows"] and len({r["id"] for r in oqa}) == len(oqa)
    assert all(set(r) == {"id", "question", "answer", "source", "focus"} for r in oqa)
    ins = json.loads((out / "instructions.json").read_text(encoding="utf-8"))
    assert len(ins) == report["instructions"]["rows"]
    assert all(set(r) == {"instruction", "input", "output"} and r["output"] for r in ins)
    prefs = jsonl("preferences.jsonl")
    assert len(prefs) == report["preferences"]["rows"]
    assert all(r["chosen"] != r["rejected"] for r in prefs)
    bad = (out / "bad_lines.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(bad) == 6
    for k, line in enumerate(bad, 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            assert k == 3
            continue
        assert k != 3 and (("question" in rec) == (k != 5))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder to write (default: %(default)s)"
    )
    out: Path = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    texts = load_texts()
    report: Report = {"mcqa": {}, "open_qa": {}}
    mcqa = build_mcqa(texts, report)
    oqa = build_open_qa(texts, report)
    ins = build_instructions(texts, report)
    prefs = build_preferences(texts, report)
    _write_jsonl(out / "mcqa.jsonl", mcqa)
    _write_jsonl(out / "open_qa.jsonl", oqa)
    (out / "instructions.json").write_text(
        json.dumps(ins, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    _write_jsonl(out / "preferences.jsonl", prefs)
    (out / "bad_lines.jsonl").write_text("\n".join(bad_lines(texts)) + "\n", encoding="utf-8")
    (out / "README.md").write_text(readme(texts, report), encoding="utf-8")
    check(out, report)
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
