"""Load on the human-evaluation server: N concurrent raters x M votes each, on this machine only.

    .venv/bin/python bench/human_load.py [--raters 50] [--votes 40] [--think 1.0] [--kill-after 800] [--json out.json]

Two runs, each against `factory eval human serve` started here on 127.0.0.1 (SQLite, WAL, synchronous=FULL)
with a fresh synthetic study of raters x votes single-rater items:

1. **clean**: every rater signs in with its link, accepts the policy and votes through its quota, as a
   browser would (GET /vote, POST /vote, follow the 303), pausing ``--think`` seconds on average (uniform
   0.5x-1.5x, seeded) between votes, a rater 50-100x faster than a physician reading two answers;
   ``--think 0`` is the closed-loop stress (every rater fires its next request at once: latency is then
   the queue of 50 raters). Reported: p50/p95/p99 latency per request kind; then the database is checked:
   every vote stored exactly once, every acknowledged vote present.
2. **kill**: the same load; after ``--kill-after`` acknowledged votes the server gets SIGKILL and is
   started again 0.5 s later. Raters retry (bounded) and resume; a POST whose answer was lost is sent
   again and answered 303 (stored now) or 409 (it had been stored). Checked: no acknowledged vote lost,
   none stored twice, every quota filled.

Bounded in count (raters x votes) and time (``--deadline`` seconds per run); localhost only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

from train.eval.human.db import StudyDB, sqlite_url
from train.eval.human.study import Design, ModelEntry, build_study, save_study

ITEM = re.compile(r'name="item" value="([0-9a-f]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def make_study(folder: Path, raters: int, votes: int) -> dict[str, str]:
    models = [ModelEntry(key=f"m{i}", label=f"model-{i}", model=f"model-{i}", backend={"kind": "openai", "model": "x"},
                         system_prompt=None, system_prompt_source="none", sampling={}) for i in (1, 2)]  # fmt: skip
    questions = [
        (f"q{i}", f"Question {i}: " + "what should I do about it? " * 8) for i in range(raters * votes)
    ]
    answers = {(q, m.key): f"Answer of {m.key}: " + "rest, fluids, and see a doctor if it persists. " * 10
               for q, _ in questions for m in models}  # fmt: skip
    study = build_study("load", models, questions, answers, Design(overlap_share=0))
    save_study(study, folder)
    db = StudyDB(sqlite_url(folder / "human.sqlite"), study)
    links = {f"r{i:02d}": db.invite(f"r{i:02d}", quota=votes) for i in range(raters)}
    db.close()
    return links


class Server:
    """`factory eval human serve` on a free port of 127.0.0.1."""

    def __init__(self, folder: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.folder, self.base, self.proc = folder, f"http://127.0.0.1:{self.port}", None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "factory.cli.human", "serve", str(self.folder), "--port", str(self.port)]
        with open(self.folder / "server.log", "ab") as log:  # errors, if any, land here
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Load:
    """Shared state of one run: latencies per request kind, acknowledged votes, retries."""

    def __init__(self, base: str, deadline: float, think: float):
        self.base, self.deadline, self.think = base, deadline, think
        self.rng = random.Random(0)
        self.latency: dict[str, list[float]] = {"get_vote": [], "post_vote": []}
        self.acked: set[tuple[str, str]] = set()
        self.retries = 0
        self.conflicts = 0

    async def request(
        self, http: aiohttp.ClientSession, method: str, path: str, kind: str | None = None, **kw
    ):
        """One request, retried on connection errors (the server may be down) until the deadline."""
        while True:
            if time.monotonic() > self.deadline:
                raise TimeoutError("run deadline passed")
            started = time.perf_counter()
            try:
                async with http.request(method, self.base + path, allow_redirects=False, **kw) as resp:
                    body = await resp.text()
                if kind:
                    self.latency[kind].append(time.perf_counter() - started)
                return resp.status, body
            except (aiohttp.ClientError, asyncio.TimeoutError):
                self.retries += 1
                await asyncio.sleep(0.2)

    async def rater(self, name: str, token: str) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=timeout) as http:
            origin = {"origin": self.base}
            await self.request(http, "GET", f"/i/{token}")
            _, page = await self.request(http, "GET", "/consent")
            await self.request(http, "POST", "/consent", data={"csrf": CSRF.search(page)[1], "accept": "yes"},
                               headers=origin)  # fmt: skip
            while True:
                status, page = await self.request(http, "GET", "/vote", "get_vote")
                item = ITEM.search(page)
                if item is None:
                    assert "Thank you" in page, (status, page[:300])
                    return
                form = {"csrf": CSRF.search(page)[1], "item": item[1], "choice": "AB"[len(self.acked) % 2]}
                status, _ = await self.request(http, "POST", "/vote", "post_vote", data=form, headers=origin)
                if status == 409:  # sent again after a lost answer: it had been stored
                    self.conflicts += 1
                assert status in (303, 409), status
                self.acked.add((name, item[1]))
                if self.think:
                    await asyncio.sleep(self.think * self.rng.uniform(0.5, 1.5))


def percentiles(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    pick = lambda q: round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1)  # noqa: E731
    return {
        "n": len(xs),
        "p50_ms": pick(0.5),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "max_ms": pick(1.0),
    }


async def run(raters: int, votes: int, kill_after: int | None, deadline_s: float, think: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="human-load-"))
    links = make_study(folder, raters, votes)
    server = Server(folder)
    server.start()
    load = Load(server.base, time.monotonic() + deadline_s, think)
    killed = {}

    async def killer() -> None:
        while len(load.acked) < kill_after:
            await asyncio.sleep(0.01)
        killed["at_acked"] = len(load.acked)
        server.kill()
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        await asyncio.to_thread(server.start)
        killed["restart_s"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    tasks = [load.rater(name, token) for name, token in links.items()]
    if kill_after:
        tasks.append(killer())
    try:
        await asyncio.gather(*tasks)
    finally:
        wall = time.perf_counter() - started
        server.stop()
    db = sqlite3.connect(folder / "human.sqlite")
    stored = db.execute("SELECT r.name, v.item_id FROM votes v JOIN raters r ON r.id = v.rater_id").fetchall()
    stored_set = set(stored)
    return {
        "raters": raters, "votes_each": votes, "think_s": think, "wall_s": round(wall, 2),
        "votes_per_s": round(len(stored) / wall, 1), "stored": len(stored), "stored_unique": len(stored_set),
        "acknowledged": len(load.acked), "acknowledged_lost": len(load.acked - stored_set),
        "quota_filled": len(stored) == raters * votes, "retries": load.retries, "resent_409": load.conflicts,
        "latency": {k: percentiles(v) for k, v in load.latency.items()},
        "latency_all": percentiles(load.latency["get_vote"] + load.latency["post_vote"]), "kill": killed or None,
        "server_log": str(folder / "server.log"),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raters", type=int, default=50)
    ap.add_argument("--votes", type=int, default=40)
    ap.add_argument(
        "--kill-after", type=int, default=800, help="acknowledged votes before the SIGKILL (0: no kill run)"
    )
    ap.add_argument(
        "--think", type=float, default=1.0, help="mean seconds between a rater's votes (0: stress)"
    )
    ap.add_argument("--deadline", type=float, default=300, help="seconds per run at most")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    out = {
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start",
        "clean": asyncio.run(run(args.raters, args.votes, None, args.deadline, args.think)),
    }
    if args.kill_after:
        out["kill"] = asyncio.run(run(args.raters, args.votes, args.kill_after, args.deadline, args.think))
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    ok = all(r["acknowledged_lost"] == 0 and r["stored"] == r["stored_unique"] and r["quota_filled"]
             for k, r in out.items() if k != "machine")  # fmt: skip
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
