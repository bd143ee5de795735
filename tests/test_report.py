"""report.html and the warnings of a build, on real builds: the page opened in headless Chromium must draw every
chart the manifest implies (built-in ones and the ones stages declare), a missing or broken chart fails the
check, and an empty source, a stage that drops everything and an empty output are visible warnings."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console
from tests_paths import ROOT

from factory.log import Reporter
from factory.pipeline.runner import build
from factory.recipe import load_recipe
from factory.report.charts import ChartError, render_svg
from factory.report.facts import collect_warnings, drop_examples, mixtures, source_funnel
from factory.report.html import Section, Table, write_report
from factory.report.outputs import output_lengths, output_samples
from factory.report.terminal import print_warnings, version_report
from factory.storage.store import Store

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
DECLARED = {  # what a CoT stage declares under the brief's `charts` convention
    "answer_letters": {
        "title": "answer letters: input vs verified",
        "kind": "grouped_bar",
        "data": {"input": {"A": 40, "B": 35, "C": 38, "D": 37}, "verified": {"A": 9, "B": 3, "C": 4, "D": 2}},
        "xlabel": "letter",
        "ylabel": "rows",
    },
    "outcomes": {"title": "outcome per attempt", "kind": "bar", "data": {"1": 12, "2": 4, "failed": 7}},
    "margins": {"title": "judge margins", "kind": "hist", "data": [0.5, 1.0, 1.5, 2.0, 2.0, 3.5, 4.0]},
}


def chromium() -> str | None:
    found = shutil.which("chromium")
    if found is None and not os.environ.get("FACTORY_REQUIRE_CHROMIUM"):
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    assert found, "FACTORY_REQUIRE_CHROMIUM is set but `chromium` is not on PATH"
    return found


def open_in_chromium(page: Path) -> dict:
    """Load the page headless and read back what its inline script recorded about every chart."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    dom = out.stdout
    check = re.search(r'<span id="render-check"([^>]*)>', dom)
    assert check, f"the page did not load or its check did not run: {out.stderr[-2000:]}"
    attrs = dict(re.findall(r'data-([a-z]+)="([^"]*)"', check.group(1)))
    figures = re.findall(r'<figure class="chart[^"]*" data-chart-id="([^"]+)" data-rendered="([01])"', dom)
    return {"attrs": attrs, "rendered": {cid for cid, ok in figures if ok == "1"}, "figures": figures}


def assert_charts_rendered(page: Path, manifest: dict, builtin: set[str]) -> dict:
    """Every chart the manifest implies is in the page and drawn with a non-zero size; none is broken."""
    seen = open_in_chromium(page)
    declared = {
        f"{s['name']}/{cid}"
        for s in manifest["stages"]
        for cid in ((s.get("report") or {}).get("charts") or {})
    }
    missing = (declared | builtin) - seen["rendered"]
    assert not missing, f"charts missing or not drawn: {sorted(missing)} (page: {seen['figures']})"
    attrs = seen["attrs"]
    assert attrs["broken"] == "", f"broken charts: {attrs['broken']}"
    assert int(attrs["rendered"]) == int(attrs["found"]) == int(attrs["expected"]) == len(seen["figures"])
    return seen


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("store"))
    result = build(load_recipe(QUICKSTART), store, executor="local", reporter=Reporter(quiet=True))
    return result.path, result.manifest


def builtin_ids(manifest: dict) -> set[str]:
    ids = {"funnel", "sources", "drop_reasons"}
    ids |= {f"lengths/{name}" for name, o in manifest["outputs"].items() if o["rows"]}
    ids |= {f"{s['name']}/mixture" for s in manifest["stages"] if s["type"] == "mix"}
    ids |= {f"{s['name']}/hits_per_benchmark" for s in manifest["stages"] if s["type"] == "decontaminate"}
    return ids


def test_quickstart_page_is_offline_and_draws_every_chart(quickstart):
    path, manifest = quickstart
    page = write_report(path, manifest)
    html = page.read_text()
    assert page == path / "report.html"
    assert (
        not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
        and "<link" not in html
        and "@import" not in html
    )
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids must be unique across the inline SVG charts"
    for text in (
        "demo_open_qa",
        "bad_input",
        "mix_cap",
        "exact_duplicate",
        "Apache-2.0",
        "No warnings",
        "Samples",
    ):
        assert text in html, text
    assert_charts_rendered(page, manifest, builtin_ids(manifest))


def test_declared_charts_render_and_a_broken_or_missing_chart_fails(quickstart, tmp_path):
    path, manifest = quickstart
    m = copy.deepcopy(manifest)
    stage = next(s for s in m["stages"] if s["name"] == "exact_dedup")
    stage["report"] = {
        **stage["report"],
        "charts": DECLARED,
        "warnings": ["verification skewed the letters to A"],
    }
    extra = Section(
        "Evaluation", text="added by a caller", tables=[Table(["task", "acc"], [["medqa", 0.31]])]
    )
    extra.charts = [("eval/acc", {"title": "accuracy per task", "kind": "bar", "data": {"medqa": 0.31}})]
    page = write_report(path, m, [extra], out=tmp_path / "declared.html")
    html = page.read_text()
    assert (
        "stage &#39;exact_dedup&#39;: verification skewed the letters to A" in html and "Evaluation" in html
    )
    assert_charts_rendered(page, m, builtin_ids(m) | {"eval/acc"})

    with pytest.raises(
        AssertionError, match="exact_dedup/late"
    ):  # declared in the manifest, absent from the page
        later = copy.deepcopy(m)
        next(s for s in later["stages"] if s["name"] == "exact_dedup")["report"]["charts"]["late"] = DECLARED[
            "outcomes"
        ]
        assert_charts_rendered(page, later, builtin_ids(m))

    stage["report"]["charts"]["bad"] = {"title": "bad", "kind": "hist", "data": {"a": "x"}}
    broken = write_report(path, m, out=tmp_path / "broken.html")
    assert "chart &#39;bad&#39; cannot be drawn" in broken.read_text()
    with pytest.raises(AssertionError, match="exact_dedup/bad"):
        assert_charts_rendered(broken, m, builtin_ids(m))


def test_mixture_against_its_target(tmp_path):
    weights = "stages.mix.weights={demo_mcqa: 2, demo_open_qa: 1, demo_preferences: 1}"
    recipe = load_recipe(QUICKSTART, [weights])
    result = build(recipe, Store(tmp_path / "store"), executor="local", reporter=Reporter(quiet=True))
    (mix,) = mixtures(result.manifest)
    groups = {g["group"]: g for g in mix["groups"]}
    assert groups["demo_instructions"]["target"] is None  # not weighted: kept on top, capped at 40
    weighted = [groups[name] for name in ("demo_mcqa", "demo_open_qa", "demo_preferences")]
    assert [g["target"] for g in weighted] == [0.5, 0.25, 0.25]
    part = sum(g["kept"] for g in weighted)
    for g in weighted:  # shares of the weighted part, computed here from the kept counts
        assert g["achieved"] == g["kept"] / part and abs(g["achieved"] - g["target"]) <= 1 / part
    page = write_report(result.path, result.manifest)
    assert "target share" in page.read_text()
    assert_charts_rendered(page, result.manifest, builtin_ids(result.manifest))


@pytest.mark.parametrize(
    "spec",
    [
        {"title": "x", "kind": "pie", "data": {"a": 1}},
        {"title": "x", "kind": "bar", "data": {"a": "many"}},
        {"title": "x", "kind": "grouped_bar", "data": {"a": 1}},
        {"title": "x", "kind": "hist", "data": [1, float("nan")]},
        {"kind": "bar", "data": {"a": 1}},
        {"title": "x", "kind": "funnel", "data": {"read": 10, "kept": -1}},
    ],
)
def test_malformed_chart_specs_are_refused(spec):
    with pytest.raises(ChartError):
        render_svg(spec, "t")


def test_the_funnel_chart_stays_readable_when_a_step_drops_nearly_everything():
    """Counts spanning more than a factor of 10: a log axis, so the steps after a 99% drop keep visible bars;
    each bar is labelled with its rows and its drop; a step that leaves no row is drawn without a bar, not
    refused. A small range keeps a linear axis, where the drops show as lengths."""
    data = {"read": 41091, "loaded": 10022, "local_caps": 120, "normalize": 120, "cot": 60, "guard": 0}
    svg = render_svg({"title": "Rows remaining", "kind": "funnel", "data": data, "xlabel": "rows"}, "f")
    texts = re.findall(r">([^<>]+)</text>", svg)
    for label in ("41,091", "120   −9,902 (98.8%)", "120", "60   −60 (50.0%)", "0   −60 (100.0%)"):
        assert label in texts, (label, texts)
    assert "rows (log scale)" in texts and {"1", "10", "100", "1,000", "10,000"} <= set(texts)

    small = {"read": 381, "loaded": 378, "exact_dedup": 345, "in outputs": 325}
    texts = re.findall(r">([^<>]+)</text>", render_svg({"title": "t", "kind": "funnel", "data": small}, "g"))
    assert "345   −33 (8.7%)" in texts and "rows" not in " ".join(texts) and "0" in texts


def test_series_get_distinct_colours():
    from factory.report.charts import PALETTE, series_style

    styles = [tuple(sorted(series_style(i).items())) for i in range(3 * len(PALETTE))]
    assert len(set(styles)) == len(styles)  # past the palette, hatches tell them apart
    assert len({series_style(i)["color"] for i in range(len(PALETTE))}) == len(PALETTE) >= 20


def test_funnel_and_lengths_match_the_parquet_files(quickstart):
    path, manifest = quickstart
    funnel = source_funnel(path, manifest)
    for source, f in funnel["sources"].items():
        assert f["read"] - sum(f["dropped"].values()) == f["kept"], source
    assert sum(f["kept"] for f in funnel["sources"].values()) == manifest["totals"]["rows_out"]
    drops = pq.read_table(path / "drops").to_pylist()
    assert (
        funnel["sources"]["demo_open_qa"]["dropped"]["load"]
        == Counter((d["source"], d["stage"]) for d in drops)[("demo_open_qa", "source:demo_open_qa")]
    )

    first_bad = [d["id"] for d in drops if d["reason"] == "bad_input"][:3]
    assert [e["id"] for e in drop_examples(path, manifest)[("load", "bad_input")]] == first_bad

    lengths = output_lengths(path, manifest)
    rows = pq.read_table(path / "sft").to_pylist()
    words = [sum(len(t["content"].split()) for t in r["messages"] if t["role"] == "assistant") for r in rows]
    assert lengths["sft"]["series"]["assistant turns"] == [[w, n] for w, n in sorted(Counter(words).items())]
    samples = output_samples(path, manifest)
    by_id = {r["id"]: r for r in rows}
    assert {x["source"] for x in samples["sft"]} == {r["source"] for r in rows} and len(samples["sft"]) == 4
    for x in samples["sft"]:  # one row per source, then the next rows: real rows, texts as stored
        stored = [(t["role"], t["content"]) for t in by_id[x["id"]]["messages"] if t["role"] != "system"]
        assert [(role, text) for _, role, text in x["turns"]] == stored
    pref = pq.read_table(path / "preference").to_pylist()
    chosen = [sum(len(t["content"].split()) for t in r["chosen"] if t["role"] == "assistant") for r in pref]
    assert lengths["preference"]["series"]["chosen"] == [[w, n] for w, n in sorted(Counter(chosen).items())]
    assert lengths["preference"]["rows"] == len(pref)


EMPTY_RECIPE = """
name: warn
system_prompt: You are a medical assistant.
sources:
  - {name: nothing, path: empty.jsonl, adapter: medagents, licence: MIT}
  - {name: mc, path: mc.jsonl, adapter: medagents}
stages:
  - type: length_filter
    min_chars: 5000
  - type: to_chat
outputs:
  sft: {format: messages}
"""


def test_empty_source_and_stage_dropping_everything_are_warnings(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    line = {
        "question": "Which vitamin deficiency causes scurvy in adults?",
        "answer_idx": "A",
        "answer": "Vitamin C",
    }
    rows = [
        {**line, "realidx": i, "options": {"A": "Vitamin C", "B": "Iron", "C": "Zinc", "D": "Folate"}}
        for i in range(12)
    ]
    (tmp_path / "mc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "warn.yaml").write_text(EMPTY_RECIPE)
    result = build(
        load_recipe(tmp_path / "warn.yaml"),
        Store(tmp_path / "store"),
        executor="local",
        reporter=Reporter(quiet=True),
    )
    warnings = collect_warnings(result.manifest, result.path)
    text = "\n".join(warnings)
    assert "source 'nothing' yielded no rows" in text
    assert "stage 'length_filter' dropped all 12 rows (too_short 12)" in text
    assert "output 'sft' is empty" in text and "source 'mc' has no licence" in text
    assert "source 'mc': none of its 12 rows reached an output (dropped by length_filter 12)" in text
    terminal = io.StringIO()
    console = Console(file=terminal, width=200)
    console.print(version_report(result.manifest, result.path))
    print_warnings(warnings, console)
    assert (
        f"warnings ({len(warnings)})" in terminal.getvalue()
        and "warning: output 'sft' is empty" in terminal.getvalue()
    )
    page = write_report(result.path, result.manifest)
    html = page.read_text()
    assert f"Warnings ({len(warnings)})" in html and "yielded no rows" in html
    assert_charts_rendered(page, result.manifest, {"funnel", "sources", "drop_reasons"})
