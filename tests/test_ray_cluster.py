"""`factory build` against a real Ray cluster: a local `ray start --head`, reached through RAY_ADDRESS and
through `ray job submit` (the documented way to run a build on a cluster)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

BIN = Path(sys.executable).parent
RECIPE = """
name: cluster
sources:
  - {name: qa, path: qa.jsonl, adapter: medquad}
stages:
  - {type: normalize}
  - {type: language_id}
  - {type: exact_dedup}
  - {type: to_chat}
outputs:
  sft: {format: messages}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """A one-node Ray cluster with token auth (Ray 2.60 requires a token for job submission).

    Started with ``--block`` in its own process group and stopped by signalling that group: ``ray stop``
    would also kill the test session's embedded Ray."""
    tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    token = tmp / "token"
    token.write_text(secrets.token_hex(32))
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    env.pop("RAY_ADDRESS", None)
    gcs, dash = _free_port(), _free_port()
    # Every port explicit: the defaults would collide with the test session's embedded Ray.
    ports = {
        name: _free_port()
        for name in (
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "metrics-export-port",
            "runtime-env-agent-port",
            "ray-client-server-port",
            "node-manager-port",
            "object-manager-port",
        )
    }
    start = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--block",
        "--num-cpus=2",
        f"--port={gcs}",
        f"--dashboard-port={dash}",
        "--dashboard-host=127.0.0.1",
        "--disable-usage-stats",
        f"--temp-dir={tmp / 'ray'}",
        *(f"--{name}={port}" for name, port in ports.items()),
    ]
    log = open(tmp / "head.log", "w")
    head = subprocess.Popen(start, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        assert head.poll() is None, (tmp / "head.log").read_text()[-3000:]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{dash}/api/version", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # the dashboard answers (401 without a token): it is up
        except OSError:
            time.sleep(0.5)
    else:
        os.killpg(head.pid, signal.SIGKILL)  # never leave a half-started head (and its raylet) behind
        raise AssertionError("Ray head did not come up: " + (tmp / "head.log").read_text()[-3000:])
    yield {"env": env, "gcs": f"127.0.0.1:{gcs}", "dashboard": f"http://127.0.0.1:{dash}"}
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


def _write_project(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "id": f"q{i}",
            "source": "d",
            "subset": "s",
            "url": "",
            "focus": "f",
            "qtype": "t",
            "question": f"What should a patient know about treatment option {i % 40}?",
            "answer": f"Treatment option {i % 40} is usually well tolerated; discuss side effects with a clinician.",
        }
        for i in range(400)
    ]
    (folder / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (folder / "recipe.yaml").write_text(RECIPE)


def _manifest(stdout: str) -> dict:
    version = Path(stdout.strip().splitlines()[-1])
    return json.loads((version / "manifest.json").read_text())


def test_build_on_cluster_via_ray_address(cluster, tmp_path):
    _write_project(tmp_path)
    env = {**cluster["env"], "RAY_ADDRESS": cluster["gcs"]}
    out = subprocess.run(
        [str(BIN / "factory"), "build", "recipe.yaml", "--store", str(tmp_path / "store")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    m = _manifest(out.stdout)
    assert m["executor"] == "ray"  # auto picks the cluster when RAY_ADDRESS is set, whatever the size
    assert m["outputs"]["sft"]["rows"] == 40 and m["stages"][2]["dropped"] == {"exact_duplicate": 360}


def test_build_as_ray_job(cluster, tmp_path):
    if shutil.which("ray", path=str(BIN)) is None:
        pytest.skip("ray CLI not installed")
    _write_project(tmp_path)
    store = tmp_path / "store"
    env = {**cluster["env"], "RAY_ADDRESS": cluster["dashboard"]}
    cmd = [
        str(BIN / "ray"),
        "job",
        "submit",
        "--working-dir",
        str(tmp_path),
        "--",
        str(BIN / "factory"),
        "build",
        "recipe.yaml",
        "--store",
        str(store),
    ]
    for _ in range(15):  # the job agent can come up some seconds after the dashboard
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if "No available agent" not in out.stderr:
            break
        time.sleep(2)
    assert out.returncode == 0 and "succeeded" in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]
    versions = list((store / "versions").iterdir())
    assert len(versions) == 1
    m = json.loads((versions[0] / "manifest.json").read_text())
    assert m["executor"] == "ray" and m["outputs"]["sft"]["rows"] == 40
