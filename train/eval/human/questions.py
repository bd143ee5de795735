"""Questions for a study, and the personal-data review that decides which of them may be shown.

``read_questions`` takes a JSONL or JSON file (one object per question: the text in ``question`` or the
named ``field``, else the first of ``text``, ``prompt``, ``input``, ``message``; an ``id`` or the line
number) or a dataset version's output (the first user turn of ``messages``, or a ``question`` column).
Out: ``[(id, text)]``; a row without text is a ``StudyError`` naming the file and line.

``screen(questions, detector, review)`` runs the PII detector. A question with no finding is kept as is.
A question with findings is **flagged**: it goes to the review file (``pii_review.json``, one entry per
flagged question: original, masked, findings, ``decision``) and stays out of the study until a person
sets its ``decision``: ``mask`` (use the masked text), ``keep`` (a false alarm: use the original) or
``drop``. Decisions already made are carried over when prepare runs again (matched by id and a hash of
the original text, so an edited question is reviewed again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.hashing import stable_hash
from train.eval.human.pii import PiiDetector
from train.eval.human.study import StudyError

REVIEW_SCHEMA = "factory-human-pii-review/1"
REVIEW_FILE = "pii_review.json"
DECISIONS = ("mask", "keep", "drop")
TEXT_FIELDS = ("question", "text", "prompt", "input", "message")


def _text_of(row: dict[str, Any], text_field: str | None) -> str | None:
    for name in (text_field,) if text_field else TEXT_FIELDS:
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    turns = row.get("messages")
    if not text_field and isinstance(turns, list):
        user = next(
            (t.get("content") for t in turns if isinstance(t, dict) and t.get("role") == "user"), None
        )
        if isinstance(user, str) and user.strip():
            return user.strip()
    return None


def _records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
            rows = data.get("questions", data.get("rows")) if isinstance(data, dict) else data
            if not isinstance(rows, list):
                raise StudyError(f"{path}: expected a JSON list of questions (or {{'questions': [...]}})")
            return [(f"{path}[{i}]", r) for i, r in enumerate(rows)]
        return [
            (f"{path}:{i}", json.loads(line)) for i, line in enumerate(text.splitlines(), 1) if line.strip()
        ]
    except ValueError as exc:
        raise StudyError(f"{path}: not valid JSON/JSONL ({exc})") from exc


def read_questions(
    path: Path, text_field: str | None = None, limit: int | None = None
) -> list[tuple[str, str]]:
    """``[(id, text)]`` from a JSON/JSONL file, or from a dataset version's output folder rows."""
    path = Path(path)
    if path.is_dir():
        rows = _version_rows(path)
    else:
        rows = _records(path)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for where, row in rows:
        if not isinstance(row, dict):
            raise StudyError(f"{where}: a question must be a JSON object")
        text = _text_of(row, text_field)
        if text is None:
            names = text_field or ", ".join(TEXT_FIELDS) + " or a user turn in messages"
            raise StudyError(f"{where}: no question text (looked in {names})")
        qid = str(row.get("id") if row.get("id") is not None else len(out) + 1)
        if qid in seen:
            raise StudyError(f"{where}: question id {qid!r} appears twice")
        seen.add(qid)
        out.append((qid, text))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise StudyError(f"{path}: no questions")
    return out


def _version_rows(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """Rows of a version's output folder (``<version>/<output>``) or of its first output with Parquet files."""
    import pyarrow.parquet as pq

    from factory.storage.store import parquet_files

    files = parquet_files(folder)
    if not files and (folder / "manifest.json").exists():
        outputs = json.loads((folder / "manifest.json").read_text()).get("outputs") or {}
        for name in outputs:
            files = parquet_files(folder / name)
            if files:
                break
    if not files:
        raise StudyError(f"{folder}: no Parquet rows (give a version's output folder, e.g. <version>/sft)")
    return [(f"{f.name}[{i}]", r) for f in files for i, r in enumerate(pq.read_table(f).to_pylist())]


@dataclass
class Screened:
    """What the PII screen let through (``kept``), what waits for review, what was dropped, and the review."""

    kept: list[tuple[str, str]]
    pending: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)
    detector: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        decided = [r["decision"] for r in self.review if r["decision"]]
        return {
            "detector": self.detector, "flagged": len(self.review), "pending_review": self.pending,
            "decisions": {d: decided.count(d) for d in DECISIONS}, "dropped": self.dropped,
        }  # fmt: skip


def load_review(path: Path | None) -> dict[tuple[str, str], str]:
    """Decisions of a review file: ``(question id, original hash) -> decision`` (empty when absent)."""
    if path is None or not Path(path).exists():
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema") != REVIEW_SCHEMA:
        raise StudyError(f"{path}: not a PII review file of schema {REVIEW_SCHEMA!r}")
    out = {}
    for entry in data.get("items", []):
        decision = entry.get("decision")
        if decision is not None and decision not in DECISIONS:
            raise StudyError(
                f"{path}: question {entry.get('question_id')!r}: decision {decision!r} is not one of {DECISIONS}"
            )
        if decision:
            out[(str(entry["question_id"]), entry["original_sha"])] = decision
    return out


def screen(
    questions: list[tuple[str, str]], detector: PiiDetector | None, decisions: dict[tuple[str, str], str]
) -> Screened:
    """Questions with findings wait for a decision; decided ones are masked, kept or dropped."""
    if detector is None:
        return Screened(kept=list(questions), detector={"detector": "off"})
    out = Screened(kept=[], detector=detector.info)
    for qid, text in questions:
        findings = detector.find(text)
        if not findings:
            out.kept.append((qid, text))
            continue
        sha = stable_hash(text, length=16)
        masked = detector.mask(text, findings)
        decision = decisions.get((qid, sha))
        out.review.append(
            {"question_id": qid, "original_sha": sha, "decision": decision, "original": text, "masked": masked,
             "findings": [f.as_dict() for f in findings]}
        )  # fmt: skip
        if decision == "mask":
            out.kept.append((qid, masked))
        elif decision == "keep":
            out.kept.append((qid, text))
        elif decision == "drop":
            out.dropped.append(qid)
        else:
            out.pending.append(qid)
    return out


def write_review(screened: Screened, path: Path) -> Path:
    body = {
        "schema": REVIEW_SCHEMA,
        "how": "Set each item's decision to 'mask' (show the masked text), 'keep' (no personal data: show the "
        "original) or 'drop' (leave the question out), then run `factory eval human prepare` again. Items "
        "without a decision stay out of the study.",
        "detector": screened.detector,
        "items": screened.review,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False))
    return path
