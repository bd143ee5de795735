"""fastText quality classifier: trained by the recipe (``quality_train``), applied by ``quality_score``.

- ``quality_train`` (GlobalStage): rows of ``positive_sources`` are labelled ``pos``, rows of
  ``negative_sources`` ``neg``; ``keys`` prepares their texts in parallel, ``decide`` trains a fastText
  supervised model on the driver (one thread, fixed seed: the same rows give a byte-identical model),
  evaluates it on a held-out split chosen by a seeded hash of each row id, and writes ``quality.bin`` and
  ``quality_meta.json`` into its artifact folder (cached with the stage, copied into the version under
  ``artifacts/<stage>/``). Held-out accuracy, precision, recall and sizes go to the manifest. Rows of
  ``train_only_sources`` (e.g. the junk negatives) are dropped with ``quality_training_only``.
- ``quality_score`` (Stage, model loaded once per worker): adds ``quality_score`` (float32, probability
  of the positive label). The ``threshold`` stage decides on it, so a new bound never re-runs the model.

Training texts sit on the driver (at most ``max_chars`` characters per labelled row): cap the labelled
sources (``mix`` before this stage) when they hold millions of rows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import xxhash
from pydantic import Field, model_validator

from factory.errors import StageError
from factory.stage import Decision, GlobalStage, Resources, Stage
from filters.clean.heuristics import judged_text

MODEL_FILE = "quality.bin"
META_FILE = "quality_meta.json"
POS, NEG = "__label__pos", "__label__neg"
_TOKEN = re.compile(r"\w+|[^\w\s]")
_TRAIN_SCRIPT = """
import json, sys
import fasttext
fasttext.train_supervised(**json.loads(sys.argv[1])).save_model(sys.argv[2])
"""


def classifier_text(row: dict[str, Any], on: str, max_chars: int) -> str:
    """One line of lower-cased tokens (words and single punctuation marks): what the model reads."""
    return " ".join(_TOKEN.findall(judged_text(row, on)[:max_chars].lower()))


def _load_fasttext(path: Path):
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load_model warning
    return fasttext.load_model(str(path))


def positive_probability(model, texts: list[str], positive_label: str) -> list[float]:
    """P(positive label) for each text, from one batched ``predict`` call over all labels."""
    labels, probs = model.predict(texts, k=-1)
    out = []
    for labs, ps in zip(labels, probs, strict=True):
        p = next((float(q) for lab, q in zip(labs, ps, strict=True) if lab == positive_label), 0.0)
        out.append(min(max(p, 0.0), 1.0))
    return out


class QualityTrain(GlobalStage):
    """Trains the quality classifier on labelled sources; in: rows of any kind; out: the same rows minus
    those of ``train_only_sources`` (``quality_training_only``); artifacts ``quality.bin`` and
    ``quality_meta.json``; report: held-out accuracy, precision, recall, f1, n_train, n_test."""

    type: Literal["quality_train"] = "quality_train"
    positive_sources: list[str] = Field(min_length=1, description="sources of good (in-domain) text")
    negative_sources: list[str] = Field(min_length=1, description="sources of junk / off-domain text")
    train_only_sources: list[str] = Field(
        default_factory=list, description="labelled sources used for training only: dropped after it"
    )
    on: Literal["all", "response"] = Field("all", description="text the model reads (see judged_text)")
    max_chars: int = Field(2000, ge=50, le=100_000, description="characters of each row the model reads")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="held-out share, by seeded hash of the id")
    seed: int = Field(0, ge=0)
    epoch: int = Field(5, ge=1, le=100)
    lr: float = Field(0.5, gt=0, le=5)
    dim: int = Field(16, ge=2, le=300)
    word_ngrams: int = Field(2, ge=1, le=5)
    bucket: int = Field(100_000, ge=1000, le=10_000_000, description="hash buckets of word n-grams")
    min_count: int = Field(1, ge=1)

    key_columns: ClassVar[dict[str, pa.DataType]] = {
        "source": pa.string(),
        "label": pa.string(),
        "text": pa.string(),
    }

    @model_validator(mode="after")
    def _check_sources(self):
        both = set(self.positive_sources) & set(self.negative_sources)
        if both:
            raise ValueError(f"sources both positive and negative: {sorted(both)}")
        stray = set(self.train_only_sources) - set(self.positive_sources) - set(self.negative_sources)
        if stray:
            raise ValueError(f"train_only_sources must be positive or negative sources: {sorted(stray)}")
        return self

    def source_refs(self) -> list[str]:
        return [*self.positive_sources, *self.negative_sources]

    def keys(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        pos, neg = set(self.positive_sources), set(self.negative_sources)
        return [
            {
                "id": r["id"],
                "source": r["source"],
                "label": POS if r["source"] in pos else NEG,
                "text": classifier_text(r, self.on, self.max_chars),
            }
            for r in rows
            if r["source"] in pos or r["source"] in neg
        ]

    def is_test(self, row_id: str) -> bool:
        """The held-out split: a seeded hash of the id, independent of row order and executor."""
        return xxhash.xxh3_64_intdigest(f"{self.seed}\x00{row_id}".encode()) < self.test_fraction * 2**64

    def train(self, lines: list[str], model_path: Path) -> None:
        """fastText on ``lines`` (``__label__x tokens...``): one thread, fixed seed, in a child process.

        fastText 0.9.2 initialises only ``thread/10`` of its input matrix (``DenseMatrix::uniform`` splits
        it in 10 blocks, one per thread) and this build leaves the rest as whatever the allocator hands
        back: zeros from fresh pages, stale data (or NaN) from reused ones. So two trainings in one process
        differ. The child runs with glibc's ``MALLOC_PERTURB_=255`` (every allocation zero-filled): the
        same rows and params then give a byte-identical model (tests/test_quality.py checks it)."""
        args = {
            "input": "",
            "epoch": self.epoch,
            "lr": self.lr,
            "dim": self.dim,
            "wordNgrams": self.word_ngrams,
            "bucket": self.bucket if self.word_ngrams > 1 else 0,
            "minCount": self.min_count,
            "thread": 1,
            "seed": self.seed,
            "verbose": 0,
        }
        with tempfile.TemporaryDirectory() as tmp:
            args["input"] = str(Path(tmp) / "train.txt")
            Path(args["input"]).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            done = subprocess.run(
                [sys.executable, "-c", _TRAIN_SCRIPT, json.dumps(args), str(model_path)],
                env={**os.environ, "MALLOC_PERTURB_": "255"},
                capture_output=True,
                text=True,
            )
        if done.returncode != 0:
            raise StageError(f"stage '{self.stage_name}': fastText training failed: {done.stderr[-2000:]}")

    def decide(self, keys: pa.Table) -> Decision:
        ids, labels, texts = (keys.column(c).to_pylist() for c in ("id", "label", "text"))
        # Shuffle by a seeded hash of the id (fastText's SGD must not see one label after the other).
        order = sorted(
            range(len(ids)), key=lambda i: xxhash.xxh3_64_intdigest(f"{self.seed}\x01{ids[i]}".encode())
        )
        train = [i for i in order if not self.is_test(ids[i])]
        test = [i for i in order if self.is_test(ids[i])]
        for split, rows in (("training", train), ("held-out", test)):
            missing = {POS, NEG} - {labels[i] for i in rows}
            if missing:
                raise StageError(
                    f"stage '{self.stage_name}': no {'/'.join(sorted(missing))} rows in the {split} split "
                    f"({len(ids)} labelled rows): check positive_sources / negative_sources"
                )
        start = time.perf_counter()
        model_path = self.artifact_dir / MODEL_FILE
        self.train([f"{labels[i]} {texts[i]}" for i in train], model_path)
        train_s = time.perf_counter() - start
        model = _load_fasttext(model_path)
        scores = positive_probability(model, [texts[i] for i in test], POS)
        truth = [labels[i] == POS for i in test]
        guess = [s >= 0.5 for s in scores]
        tp = sum(t and g for t, g in zip(truth, guess, strict=True))
        fp = sum(g and not t for t, g in zip(truth, guess, strict=True))
        fn = sum(t and not g for t, g in zip(truth, guess, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        from factory.hashing import file_sha256

        report = {
            "model": MODEL_FILE,
            "model_bytes": model_path.stat().st_size,
            "model_sha256": file_sha256(model_path),
            "n_train": len(train),
            "n_test": len(test),
            "n_train_pos": sum(labels[i] == POS for i in train),
            "n_test_pos": sum(truth),
            "accuracy": round(sum(t == g for t, g in zip(truth, guess, strict=True)) / len(test), 4),
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
            "decision_threshold": 0.5,
            "train_s": round(train_s, 3),
        }
        self.figures.put_all(report)
        fixed = {k: v for k, v in report.items() if k != "train_s"}  # same bytes on every rebuild
        meta = {"on": self.on, "max_chars": self.max_chars, "positive_label": POS, **fixed}
        (self.artifact_dir / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
        only = set(self.train_only_sources)
        return Decision(
            by_id={
                row_id: ("quality_training_only", f"label={label.removeprefix('__label__')}")
                for row_id, source, label in zip(ids, keys.column("source").to_pylist(), labels, strict=True)
                if source in only
            }
        )


class QualityScore(Stage):
    """Adds ``quality_score`` (float32, P(positive)) from the model of an earlier ``quality_train`` stage
    (``model_from``) or a fastText file (``model_path``, relative to the recipe's data folder, with
    ``positive_label``). In: rows of any kind; out: the same rows with the column; none dropped."""

    type: Literal["quality_score"] = "quality_score"
    model_from: str | None = Field("quality_train", description="name of the training stage")
    model_path: str | None = Field(None, description="a pre-trained fastText model instead of model_from")
    positive_label: str = Field(POS, description="label of good text in a model_path model")
    on: Literal["all", "response"] = Field("all", description="model_path only (model_from: as trained)")
    max_chars: int = Field(2000, ge=50, le=100_000, description="model_path only (model_from: as trained)")
    batch_size: int = Field(4096, ge=1, le=1_000_000)

    stateful: ClassVar[bool] = True
    resources: ClassVar[Resources] = Resources(num_cpus=1, concurrency=1)

    @model_validator(mode="after")
    def _one_model(self):
        if self.model_path is not None:
            if self.model_from is not None and "model_from" in self.model_fields_set:
                raise ValueError("give model_from or model_path, not both")
            self.model_from = None
        if self.model_from is None and self.model_path is None:
            raise ValueError("give model_from (a quality_train stage) or model_path")
        return self

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {"quality_score": pa.float32()}

    def artifact_inputs(self) -> list[str]:
        return [self.model_from] if self.model_from else []

    def _model_file(self) -> Path:
        if self.model_path is not None:
            return self.data_dir / self.model_path
        return self.artifacts_of(self.model_from) / MODEL_FILE

    def input_fingerprint(self) -> Any:
        if self.model_path is None:
            return None  # the training stage is upstream: its cache key is already in this one's
        from factory.hashing import file_sha256

        path = self._model_file()
        if not path.is_file():
            raise StageError(f"stage '{self.stage_name}': model file {path} not found")
        return {"model_sha256": file_sha256(path)}

    def setup(self) -> None:
        self._on, self._max_chars, self._label = self.on, self.max_chars, self.positive_label
        if self.model_path is None:
            meta = json.loads((self.artifacts_of(self.model_from) / META_FILE).read_text())
            self._on, self._max_chars, self._label = meta["on"], meta["max_chars"], meta["positive_label"]
        self._model = _load_fasttext(self._model_file())

    def process_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        texts = [classifier_text(r, self._on, self._max_chars) for r in rows]
        scores = positive_probability(self._model, texts, self._label)
        return [{**row, "quality_score": s} for row, s in zip(rows, scores, strict=True)]
