"""The store on object storage against local disk: the same clean + dedup build, side by side in one run.

The build is ``normalize -> length_filter -> exact_dedup -> minhash_dedup -> to_chat`` over the corpus of
``bench/dataplane_data.py`` (written to DATA_DIR first if it is not there). Each build is a fresh
``factory build`` subprocess with a fresh store (no cache), alternately into a local folder and into
``s3://`` on moto's S3 server, which this script starts on localhost in its own process (a stand-in for a
cloud object store: it shares this machine's cores, so the S3 side pays for its server too). The executor is
the recipe's ``auto`` (embedded Ray from 250k rows) unless ``--executor`` says otherwise.

    python bench/store_bench.py DATA_DIR --rows 1000000 [--pairs 1] [--executor auto]

Prints one JSON line per build (target, wall_s, rows_out, version) and a last line with the median wall
time of each side and the ratio s3 / local. Both sides must give the same version id and output rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = """
name: store_bench
data_dir: {data}
sources:
  - {{name: qa, path: "qa-*.jsonl", adapter: medquad}}
stages:
  - {{type: normalize}}
  - {{type: length_filter, min_chars: 50}}
  - {{type: exact_dedup}}
  - {{type: minhash_dedup}}
  - {{type: to_chat}}
outputs:
  sft: {{format: messages}}
executor: {{kind: {executor}}}
"""


class MotoServer:
    """moto's S3 server on a free localhost port, in its own process; the ``AWS_*`` environment to reach it."""

    def __init__(self, log: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.log = open(log, "w")
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        self.env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.env['AWS_ENDPOINT_URL']}/moto-api/", timeout=2)
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise SystemExit("moto server did not start") from None
                time.sleep(0.2)

    def bucket(self) -> str:
        import s3fs

        name = f"bench-{uuid.uuid4().hex[:8]}"
        s3fs.S3FileSystem(
            skip_instance_cache=True, key="bench", secret="bench", endpoint_url=self.env["AWS_ENDPOINT_URL"]
        ).mkdir(name)
        return name

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def run_build(recipe: Path, store: str, env: dict[str, str]) -> dict:
    """One timed ``factory build`` subprocess; its version id and rows from the manifest it printed."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "factory.cli.main", "build", str(recipe), "--store", store, "-q"],
        capture_output=True, text=True, env={**os.environ, **env, "RAY_DEDUP_LOGS": "0"}, cwd=ROOT,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"build into {store} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    version = out.stdout.strip().splitlines()[-1].rstrip("/").rsplit("/", 1)[-1]
    return {"wall_s": round(wall, 1), "version": version}


def manifest(store: str, version: str, env: dict[str, str]) -> dict:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from factory.storage.store import Store

    return Store(store).manifest(version)  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--pairs", type=int, default=1, help="local/s3 pairs, alternated")
    ap.add_argument("--executor", default="auto")
    args = ap.parse_args()
    data = args.data.resolve()
    if not any(data.glob("qa-*.jsonl")):
        sys.path.insert(0, str(ROOT / "bench"))
        from dataplane_data import generate

        generate(data, args.rows, args.files, jobs=2)
    work = Path(tempfile.mkdtemp(prefix="store-bench-"))
    recipe = work / "recipe.yaml"
    recipe.write_text(RECIPE.format(data=data, executor=args.executor))
    server = MotoServer(work / "moto.log")
    env = {**server.env, "FACTORY_STORE_MIRRORS": str(work / "mirrors")}
    walls: dict[str, list[float]] = {"local": [], "s3": []}
    seen: list[tuple[str, int]] = []
    try:
        for k in range(args.pairs):
            for target in ("local", "s3"):
                store = str(work / f"local-{k}") if target == "local" else f"s3://{server.bucket()}/store"
                res = run_build(recipe, store, env)
                m = manifest(store, res["version"], env)
                res.update(target=target, rows_in=m["totals"]["rows_in"], rows_out=m["totals"]["rows_out"],
                           executor=m["executor"], stages={s["name"]: s["wall_s"] for s in m["stages"]})  # fmt: skip
                walls[target].append(res["wall_s"])
                seen.append((res["version"], res["rows_out"]))
                print(json.dumps(res), flush=True)
                shutil.rmtree(work / f"local-{k}", ignore_errors=True)
                shutil.rmtree(work / "mirrors", ignore_errors=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if len(set(seen)) != 1:
        raise SystemExit(f"the two sides differ (version, rows out): {sorted(set(seen))}")
    local, s3 = statistics.median(walls["local"]), statistics.median(walls["s3"])
    ratios = [round(b / a, 2) for a, b in zip(walls["local"], walls["s3"], strict=True)]
    print(json.dumps({"rows": args.rows, "local_wall_s": round(local, 1), "s3_wall_s": round(s3, 1),
                      "ratio": round(s3 / local, 2), "pair_ratios": ratios}))  # fmt: skip


if __name__ == "__main__":
    main()
