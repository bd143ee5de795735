"""Every adapter by name: how one source layout maps to canonical rows (``factory adapters`` lists them)."""

from __future__ import annotations

from factory.errors import SourceError
from factory.sources.adapters.base import Adapter, BadRecord, Context
from factory.sources.adapters.chat import CHAT_ADAPTERS
from factory.sources.adapters.fields import FIELDS_ADAPTER
from factory.sources.adapters.mcqa import MCQA_ADAPTERS
from factory.sources.adapters.openqa import QA_ADAPTERS
from factory.sources.adapters.safety import SAFETY_ADAPTERS

ADAPTERS: dict[str, Adapter] = {
    a.name: a for a in [*MCQA_ADAPTERS, *QA_ADAPTERS, *SAFETY_ADAPTERS, *CHAT_ADAPTERS, FIELDS_ADAPTER]
}


def adapter_names() -> list[str]:
    return sorted(ADAPTERS)


def get_adapter(name: str, source: str) -> Adapter:
    if name not in ADAPTERS:
        raise SourceError(f"source '{source}': unknown adapter '{name}'; known: {', '.join(adapter_names())}")
    return ADAPTERS[name]


__all__ = ["ADAPTERS", "Adapter", "BadRecord", "Context", "adapter_names", "get_adapter"]
