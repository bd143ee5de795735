"""Cost of a version's report against the build it reports on: builds a recipe into a fresh store, then times
``collect_warnings`` and ``write_report`` (report.html: drop log and output scans, lengths, every chart) on the
version, in the same process, after the imports (the first matplotlib import is timed apart).

    python bench/report_time.py recipes/quickstart.yaml
    python bench/report_time.py recipes/medical_basic.yaml            # needs ../shared/data
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from factory.log import Reporter
    from factory.pipeline.runner import build
    from factory.recipe import load_recipe
    from factory.storage.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = build(load_recipe(args.recipe), Store(tmp), executor="local", reporter=Reporter(quiet=True))
        build_s = time.perf_counter() - start

        start = time.perf_counter()
        import matplotlib.figure  # noqa: F401

        from factory.report.terminal import collect_warnings, write_report

        import_s = time.perf_counter() - start
        warn_s, report_s = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            collect_warnings(result.manifest, result.path)
            warn_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            page = write_report(result.path, result.manifest)
            report_s.append(time.perf_counter() - start)
        t = result.manifest["totals"]
        print(
            json.dumps(
                {
                    "recipe": args.recipe.name,
                    "rows_read": t["rows_in"],
                    "rows_out": t["rows_out"],
                    "rows_dropped": t["rows_dropped"],
                    "build_s": round(build_s, 2),
                    "import_s": round(import_s, 2),
                    "collect_warnings_s": round(min(warn_s), 2),
                    "write_report_s": round(min(report_s), 2),
                    "report_bytes": page.stat().st_size,
                    "report_share_of_build": round(min(report_s) / build_s, 3),
                }
            )
        )


if __name__ == "__main__":
    main()
