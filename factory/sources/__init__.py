"""Sources: reading local files or Hub datasets and adapting their records into canonical rows.

- ``load_source(cfg, base_dir)``: the canonical rows of a source (dropped ones included, marked).
- ``fingerprint_source(cfg, base_dir)``: what identifies the source's input (file hashes, Hub coordinates).
- ``ADAPTERS`` / ``adapter_names()``: every adapter by name, each with a one-line description.
"""

from __future__ import annotations

from factory.sources.adapters import ADAPTERS, Adapter, adapter_names
from factory.sources.config import FieldMap, SourceConfig
from factory.sources.load import fingerprint_source, load_source

__all__ = [
    "ADAPTERS",
    "Adapter",
    "FieldMap",
    "SourceConfig",
    "adapter_names",
    "fingerprint_source",
    "load_source",
]
