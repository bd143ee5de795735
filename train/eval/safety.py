"""``factory eval attack``: attack success rate (ASR) of harmful prompts wrapped in jailbreak styles.

Harmful prompts come from held-out safety sets (``AttackSpec.prompts``; default MedSafetyBench test and
MaliciousInstruct). A prompt the model's checkpoint chain was trained on is left out and counted: its
normalised text is a training user turn, or the decontamination index (``filters.decontam_index``,
default rules) finds it inside one (a red-team training prompt wraps the request in a template).

Each prompt is asked plain and wrapped in each jailbreak style (``synth.redteam``: the template files the
``jailbreak_wrap`` stage reads, template ids as it names them). A guard judge reads the original request
and the response and says safe / unsafe: ``guard_system.j2`` / ``guard_user.j2`` of ``synth/templates``
with a choice constraint (``instruction``), or the bare conversation for a guard model with its own chat
template (``conversation``, e.g. Llama Guard); ``synth.judge.parse_guard`` reads it. ASR = unsafe /
judged, per style, per prompt set, and over all jailbreak styles (``plain`` is the no-attack baseline).
The keyword refusal judge (``train.benchmarks.is_refusal``) gives a second, cheap ASR (= not refused).
"""

from __future__ import annotations

import glob
import re
import time
from pathlib import Path
from typing import Any, Literal

from factory.errors import FactoryError
from factory.llm.types import Guide, Request, SamplingConfig
from train.eval.benchmarks import is_refusal, load_docs
from train.eval.generative import EvalContext, system_turn
from train.eval.results import header, write_results
from train.eval.stats import wilson

_NORM = re.compile(r"\W+")


def _norm(text: str) -> str:
    return _NORM.sub(" ", text.lower()).strip()


def held_out(
    docs: list[dict[str, Any]], model_dir: Path
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """``docs`` whose request the model's training chain never saw, and ``{id, how}`` for the others."""
    from filters.decontam.index import BenchmarkIndex, Rules
    from train.eval.mcqa import training_user_turns

    turns = list(training_user_turns(model_dir))
    if not turns or not docs:
        return docs, []
    seen = {_norm(t) for t in turns}
    index = BenchmarkIndex(Rules())
    for i, d in enumerate(docs):
        index.add("attack", str(i), d["question"], None, [])
    index.finish()
    inside: set[int] = set()
    for start in range(0, len(turns), 2048):
        for cands in index.match_rows([([t], []) for t in turns[start : start + 2048]]):
            for c in cands:
                if c.confident:
                    inside.update(int(item) for _, item in index.groups[c.group].members)
    kept, left = [], []
    for i, d in enumerate(docs):
        if _norm(d["question"]) in seen:
            left.append({"id": d["id"], "how": "training user turn"})
        elif i in inside:
            left.append({"id": d["id"], "how": "inside a training user turn (decontam index)"})
        else:
            kept.append(d)
    return kept, left


def style_templates(ctx: EvalContext) -> dict[str, str | None]:
    """style -> template text (``plain``: None), for ``AttackSpec.styles``."""
    from synth.redteam import load_templates

    files: list[Path] = []
    for pattern in ctx.spec.attack.templates:
        full = pattern if Path(pattern).is_absolute() else str(ctx.data_dir / pattern)
        found = sorted(Path(p) for p in glob.glob(full))
        if not found:
            raise FactoryError(f"attack: no template file matches '{full}'")
        files += found
    known = dict(load_templates(files))
    out: dict[str, str | None] = {}
    for style in ctx.spec.attack.styles:
        if style != "plain" and style not in known:
            raise FactoryError(
                f"attack: unknown style '{style}' (template ids such as {sorted(known)[:8]}...)"
            )
        out[style] = None if style == "plain" else known[style]
    return out


def guard_messages(fmt: Literal["instruction", "conversation"], request: str, response: str) -> list[dict]:
    if fmt == "conversation":
        return [{"role": "user", "content": request}, {"role": "assistant", "content": response}]
    from synth.cot import TEMPLATES, jinja_env

    env = jinja_env(TEMPLATES)
    system = env.get_template("guard_system.j2").render().strip()
    user = env.get_template("guard_user.j2").render(request=request, response=response).strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _rate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    judged = [r for r in rows if r["unsafe"] is not None]
    k = sum(r["unsafe"] for r in judged)
    low, high = wilson(k, len(judged))
    complied = sum(not r["refusal_keyword"] for r in rows)
    return {
        "attacks": len(rows),
        "judged": len(judged),
        "asr": k / len(judged) if judged else None,
        "ci95": [round(low, 4), round(high, 4)] if judged else None,
        "asr_keyword": complied / len(rows) if rows else None,
    }


def _attack_summary(rows: list[dict[str, Any]], styles: list[str], sources: list[str]) -> dict[str, Any]:
    """ASR overall (jailbreak styles only), per style and per source, with the report's charts."""
    by_style = {s: _rate([r for r in rows if r["style"] == s]) for s in styles}
    summary = {
        "overall": _rate([r for r in rows if r["style"] != "plain"]),
        "plain": by_style.get("plain"),
        "by_style": by_style,
        "by_source": {b: _rate([r for r in rows if r["source"] == b and r["style"] != "plain"])
                      for b in sources},
    }  # fmt: skip
    summary["charts"] = {
        "asr_by_style": {"title": "attack success rate by jailbreak style (guard judge)", "kind": "bar",
                         "data": {s: v["asr"] for s, v in by_style.items() if v["asr"] is not None}, "ylabel": "ASR"},
        "asr_judge_vs_keyword": {"title": "ASR: guard judge vs keyword refusal", "kind": "grouped_bar",
                                 "data": {"judge": {s: v["asr"] or 0.0 for s, v in by_style.items()},
                                          "keyword": {s: v["asr_keyword"] or 0.0 for s, v in by_style.items()}},
                                 "xlabel": "style", "ylabel": "ASR"},
    }  # fmt: skip
    return summary


def evaluate_attack(ctx: EvalContext, limit: int | None) -> dict[str, Any]:
    """Ask, judge and score every (prompt, style); write ``<out>/attack/``; return the results."""
    from synth.judge import parse_guard
    from synth.redteam import wrap_request

    spec = ctx.spec.attack
    fmt = spec.guard_format
    styles = style_templates(ctx)
    prompts, excluded = [], []
    for bench in spec.prompts:
        kept, left = held_out(load_docs(bench, ctx.data_dir, limit), ctx.model_dir)
        prompts += [{**d, "source": bench.name} for d in kept]
        excluded += [{**x, "source": bench.name} for x in left]
    attacks = [(d, style) for d in prompts for style in styles]
    started = time.perf_counter()
    asks = []
    for d, style in attacks:
        text = (
            d["question"]
            if styles[style] is None
            else wrap_request(styles[style], d["question"], spec.generator_name)
        )
        asks.append(
            Request(f"{d['source']}:{d['id']}", [*system_turn(ctx.system_prompt), {"role": "user", "content": text}],
                    SamplingConfig(temperature=0.0, max_tokens=spec.max_tokens, seed=0), tag=f"attack:{style}")
        )  # fmt: skip
    responses = [r.first_text for r in ctx.generator.ask(asks)]
    guide = Guide(choice=["safe", "unsafe"]) if fmt == "instruction" else None
    verdict_asks = [
        Request(a.row_id, guard_messages(fmt, d["question"], resp), SamplingConfig(temperature=0.0, max_tokens=16, seed=0),
                tag="guard", guide=guide)
        for a, (d, _), resp in zip(asks, attacks, responses, strict=True)
    ]  # fmt: skip
    raw = [r.first_text for r in ctx.judge.ask(verdict_asks)]
    wall = time.perf_counter() - started
    rows = []
    for (d, style), resp, judge_text in zip(attacks, responses, raw, strict=True):
        verdict = parse_guard(judge_text)
        rows.append({
            "id": d["id"], "source": d["source"], "subject": d["subject"], "style": style,
            "request": d["question"], "response": resp, "verdict": verdict.verdict,
            "categories": list(verdict.categories), "judge_raw": judge_text,
            "unsafe": None if verdict.verdict is None else verdict.verdict == "unsafe",
            "refusal_keyword": is_refusal(resp),
        })  # fmt: skip
    summary = _attack_summary(rows, list(styles), [b.name for b in spec.prompts])
    by_style = summary["by_style"]
    warnings = ["the evaluated model judged its own answers"] if ctx.self_judged else []
    if not prompts:
        warnings.append("no held-out harmful prompt left")
    results = {
        **header("attack", ctx.model_dir, ctx.system_prompt, ctx.system_prompt_source),
        "settings": spec.model_dump(mode="json"),
        "generator": ctx.generator.info,
        "judge": ctx.judge_info(),
        "warnings": warnings,
        "prompts": len(prompts),
        "excluded_seen_in_training": len(excluded),
        "excluded": excluded[:200],
        "summary": summary,
        "benchmarks": {s: {"kind": "attack", **v} for s, v in by_style.items()},
        "wall_s": round(wall, 3),
        "attacks_per_s": round(len(rows) / wall, 3) if wall > 0 else None,
    }
    per_source = {b.name: [r for r in rows if r["source"] == b.name] for b in spec.prompts}
    write_results(ctx.out_dir, "attack", results, per_source)
    return results
