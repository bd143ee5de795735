"""The data-plane benchmark build: ``normalize -> length_filter -> exact_dedup -> minhash_dedup -> to_chat`` over
the corpus of ``bench/dataplane_data.py``, run by a given checkout of the code, timed from outside.

Each build runs as a fresh ``factory build`` subprocess with a fresh store (no cache), ``PYTHONPATH`` pointing
at ``--code`` (this checkout, or a baseline worktree such as ``git worktree add /work/old-41a3981 41a3981``).
The project venv's editable install wins over ``PYTHONPATH``: give another checkout its own interpreter
(``--python``: a venv whose ``site-packages`` holds a ``.pth`` naming that tree, then the project venv's
``site-packages``: BENCHMARKS.md shows one).
The driver's peak RSS and CPU time come from ``wait4`` on that process; with ``--executor ray`` on an
embedded Ray, the workers' CPU time is read from the Ray worker processes (psutil) before they exit.

    python bench/dataplane_build.py DATA_DIR --code . --executor local [--store /work/dp/store] [--cluster 2]

``--cluster N`` starts a local ``ray start --head`` with N CPUs (N worker processes) and builds on it through
``RAY_ADDRESS``; the CPU time of all its processes is sampled, so ``driver_cpu_share`` is the driver's share.

Prints one JSON line: wall_s, driver_rss_mb, driver_cpu_s, rows_out, per-stage wall (from the manifest).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

RECIPE = """
name: dataplane_bench
data_dir: {data}
store: {store}
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
executor: {{kind: {executor}{extra}}}
"""


DRIVER = """
import json, resource, sys, time
t0 = time.perf_counter()
from factory.log import Reporter
try:
    from factory.pipeline.runner import build
except ImportError:  # the code before the re-cut (41a3981): one pipeline module
    from factory.pipeline import build
from factory.recipe import load_recipe
res = build(load_recipe(sys.argv[1]), reporter=Reporter(quiet=True))
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"path": str(res.path), "driver_cpu_s": ru.ru_utime + ru.ru_stime,
                  "driver_rss_mb": ru.ru_maxrss / 1024, "build_s": time.perf_counter() - t0}))
"""


class CpuSampler(threading.Thread):
    """Polls the CPU time of a process tree (the driver's descendants, or a Ray cluster's) every 0.2 s."""

    def __init__(self, roots: list[int], skip: int):
        super().__init__(daemon=True)
        self.roots, self.skip, self.seen, self.stop = roots, skip, {}, False

    def run(self) -> None:
        import psutil

        while not self.stop:
            for root in self.roots:
                try:
                    procs = psutil.Process(root).children(recursive=True)
                except psutil.NoSuchProcess:
                    continue
                for p in procs:
                    if p.pid == self.skip:
                        continue
                    try:
                        t = p.cpu_times()
                        self.seen[p.pid] = (p.name(), t.user + t.system)
                    except psutil.Error:
                        pass
            time.sleep(0.2)


def run_build(
    data: Path,
    code: Path,
    executor: str,
    store: Path,
    extra: str = "",
    cluster_pid: int | None = None,
    python: str = sys.executable,
) -> dict:
    recipe = store.parent / f"{store.name}.yaml"
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    recipe.write_text(RECIPE.format(data=data, store=store, executor=executor, extra=extra))
    env = {**os.environ, "PYTHONPATH": str(code.resolve()), "RAY_DEDUP_LOGS": "0"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [python, "-c", DRIVER, str(recipe)],
        cwd=str(code.resolve()),  # python -c puts the working folder first on sys.path
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = CpuSampler([proc.pid] + ([cluster_pid] if cluster_pid else []), proc.pid)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.stop = True
    if proc.returncode:
        raise SystemExit(f"build failed ({proc.returncode}):\n{err[-4000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    m = json.loads((Path(res["path"]) / "manifest.json").read_text())
    others = sum(cpu for _, cpu in sampler.seen.values())
    return {
        "code": str(code),
        "executor": m["executor"],
        "wall_s": round(wall, 1),
        "driver_cpu_s": round(res["driver_cpu_s"], 1),
        "driver_rss_mb": round(res["driver_rss_mb"]),
        "other_cpu_s": round(others, 1),
        "driver_cpu_share": round(res["driver_cpu_s"] / max(res["driver_cpu_s"] + others, 1e-9), 3),
        "rows_in": m["totals"]["rows_in"],
        "rows_out": m["totals"]["rows_out"],
        "version": m["version"],
        "stages": {s["name"]: s.get("wall_s") for s in m["stages"]},
        "sources_s": [s.get("wall_s") for s in m["sources"]],
    }


class Cluster:
    """``ray start --head --block`` with ``cpus`` CPUs in its own process group; ``address`` for RAY_ADDRESS."""

    def __init__(self, cpus: int, code: Path):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        import secrets

        self.address = f"127.0.0.1:{port}"
        token = Path("/tmp/rayb-token")
        token.write_text(secrets.token_hex(32))
        os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))  # Ray 2.60 clusters want one
        env = {**os.environ, "PYTHONPATH": str(code.resolve())}
        env.pop("RAY_ADDRESS", None)
        cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--num-cpus={cpus}",
               f"--port={port}", "--include-dashboard=false", "--disable-usage-stats", "--temp-dir=/tmp/rayb"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)  # fmt: skip
        time.sleep(12)

    def stop(self) -> None:
        import signal

        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--code", type=Path, default=Path("."))
    ap.add_argument("--executor", default="local")
    ap.add_argument("--store", type=Path, default=Path("/work/dp/store"))
    ap.add_argument("--cluster", type=int, default=0, help="run on a `ray start --head` cluster of N CPUs")
    ap.add_argument("--python", default=sys.executable, help="interpreter of the build (a venv for --code)")
    args = ap.parse_args()
    cluster = Cluster(args.cluster, args.code) if args.cluster else None
    if cluster is not None:
        os.environ["RAY_ADDRESS"] = cluster.address
    try:
        pid = cluster.proc.pid if cluster else None
        out = run_build(
            args.data.resolve(),
            args.code,
            args.executor,
            args.store.resolve(),
            cluster_pid=pid,
            python=args.python,
        )
    finally:
        if cluster is not None:
            cluster.stop()
    print(json.dumps({**out, "cluster_cpus": args.cluster}))


if __name__ == "__main__":
    main()
