"""Shared fixtures: the real data folder, one Ray session per test run, the executor matrix."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_paths import ROOT

SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the repo in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole run (start-up is 3-4 s); 2 CPUs as on CI."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def executor(request) -> str:
    """Runs a test body once in process and once on Ray Data."""
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread (here and in child processes): on 2 shared cores, torch's default of 2 threads
    spin-waits against other processes and runs tiny models 10-20x slower."""
    import os

    import torch

    before, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(before)
    if env is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = env


TINY_SERVER_KEY_ENV = "TINY_SERVER_KEY"


@pytest.fixture
def server(monkeypatch):
    """The session's vLLM OpenAI-compatible server on the tiny model; its API key in TINY_SERVER_KEY."""
    pytest.importorskip("vllm")
    from tiny_models import tiny_server

    srv = tiny_server()
    monkeypatch.setenv(TINY_SERVER_KEY_ENV, srv.api_key)
    return srv
