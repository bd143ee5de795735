"""Words per row counted by the outputs step's tasks (``factory.report.lengths``): the statistics from a
histogram equal numpy's over the rows' values, and the histograms a build records in its manifest equal those
counted from its output files (the report's path for versions built before the tasks counted)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests_paths import ROOT

from factory.log import Reporter
from factory.pipeline.runner import build
from factory.recipe import load_recipe
from factory.report.lengths import histogram, length_plan, length_stats, merge, words_by_row
from factory.report.outputs import output_lengths
from factory.storage.store import Store


def numpy_stats(values: np.ndarray) -> dict[str, float]:
    """The figures as the reports computed them from every row's value (the reference)."""
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "n": len(values),
        "mean": float(values.mean()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(values.max()),
    }


@pytest.mark.parametrize("seed", range(40))
def test_stats_of_a_histogram_equal_numpy_over_the_rows(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 2, 3, 7, 100, 101, 1000, 12_345]))
    values = np.floor(rng.lognormal(3, 1.5, n)) if seed % 2 else rng.integers(0, 4, n)
    values = values.astype(float)
    assert length_stats(histogram(values)) == numpy_stats(values)
    # split into files and summed, as the driver does
    cut = int(rng.integers(0, n + 1))
    parts = [{"s": histogram(values[:cut])}, {"s": histogram(values[cut:])}]
    assert merge(parts)["s"] == histogram(values)


def test_empty_histogram_has_zero_figures():
    assert length_stats([]) == {"n": 0, "mean": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0}
    assert merge([{}, {}]) == {}


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("store"))
    result = build(
        load_recipe(ROOT / "recipes" / "quickstart.yaml"),
        store,
        executor="local",
        reporter=Reporter(quiet=True),
    )
    return result.path, result.manifest


def test_build_records_the_lengths_of_every_row(quickstart):
    path, manifest = quickstart
    counted = output_lengths(path, manifest)
    assert counted and all("lengths" in manifest["outputs"][name] for name in counted)
    for name, o in counted.items():
        table = pq.read_table(path / name)
        plan = length_plan(table.column_names)
        assert o["rows"] == o["sampled"] == table.num_rows
        assert o["series"] == {s: histogram(words_by_row(table.column(c), r)) for s, (c, r) in plan.items()}
    # a manifest without them (an outputs step cached before the tasks counted): counted from the files
    old = {
        **manifest,
        "outputs": {
            k: {f: v for f, v in o.items() if f != "lengths"} for k, o in manifest["outputs"].items()
        },
    }
    assert output_lengths(path, old) == counted


def test_compiled_pieces_equal_arrow_split_on_every_code_point_and_fuzz():
    from factory.report.words_native import pieces

    def arrow(a: pa.Array) -> list:
        return pc.fill_null(pc.list_value_length(pc.utf8_split_whitespace(a)), 0).to_pylist()

    cps = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for form in ("a{0}b{0}{0}", "a{0}", "{0}", "{0}{0}", "{0}a{0}{0}{0}", "a {0}", "a{0} "):
        every = pa.array([form.format(chr(c)) for c in cps if form != "a{0} " or c != 0x10FFFF])
        assert pieces(every).tolist() == arrow(every), form  # (pyarrow slips on U+10FFFF + " ")
    rng = np.random.default_rng(0)
    alphabet = [
        "a",
        "é",
        "中",
        "😀",
        " ",
        "\t",
        "\n",
        "\u00a0",
        "\u2003",
        "\u3000",
        "\x1c",
        "\u200b",
        "\ufeff",
    ]
    texts = ["".join(rng.choice(alphabet, int(rng.integers(0, 12)))) for _ in range(5000)]
    texts = [None if i % 97 == 0 else t for i, t in enumerate(texts)]
    for arr in (pa.array(texts), pa.array(texts, pa.large_string()), pa.array(texts).slice(123, 4000)):
        assert pieces(arr).tolist() == arrow(arr)
