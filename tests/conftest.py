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
