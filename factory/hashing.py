"""Content hashes the whole factory keys things by: cache entries, version ids, model identities."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import xxhash


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex digest of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))[:length]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
