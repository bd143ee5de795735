"""The one text normaliser of decontamination: word tokens that survive case, punctuation, spacing,
clinical shorthand and inflection, and a typo fixer over the benchmark vocabulary.

``tokens(text)``: NFKC + casefold; slash shorthand (``y/o``, ``s/p``, ``w/``...) rewritten; every run of
punctuation, symbols or whitespace only separates; letters and digits split (``45yo`` -> ``45 yo``); each
token then goes through ``SHORTHAND`` (clinical abbreviations -> their words, written for this project:
the set MedQA/MedMCQA-style copies use, unambiguous ones only) and a light stemmer (plural/verb endings),
so ``45 yo pt w/ hx of HTN`` and ``A 45-year-old patient with a history of hypertension`` share their
tokens. Benchmark items and training rows go through the same function.

``TypoFixer``: a training token that no benchmark item uses is mapped to the benchmark token one edit
away (insertion, deletion, substitution or swap of neighbours; tokens of 4+ letters), found with a
deletion dictionary (the SymSpell idea, a few dict lookups per token; written here because the SymSpell
packages on PyPI bring their own tokenising and word lists, and rapidfuzz's ``process.extractOne`` over
60k words costs ~1 ms a token). Ties go to the word with the same last and first letters, then to the
word more items use.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from itertools import repeat

import numpy as np

_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)  # letter runs and digit runs (45yo -> 45, yo)
_SEP, _SEP_ID = "\x1e", -(2**40)  # joins a batch's texts (record separator: never a word character)
_WORD_OR_SEP = re.compile(r"[^\W\d_]+|\d+|\x1e", re.UNICODE)
SLASHED = {  # x/y shorthand (after casefold), checked as a pair; "w/" alone is "with"
    ("y", "o"): "year old",
    ("s", "p"): "status post",
    ("h", "o"): "history of",
    ("c", "o"): "complains of",
    ("b", "l"): "bilateral",
    ("r", "o"): "rule out",
    ("n", "v"): "nausea vomiting",
    ("f", "u"): "follow up",
    ("p", "w"): "presents with",
    ("w", "o"): "without",
    ("w", None): "with",
    ("d", "c"): "discontinue",
    ("a", "w"): "associated with",
}
SHORTHAND = {  # one token -> its words (both sides get the same form)
    "yo": "year old", "yrs": "years", "yr": "year", "wk": "week", "wks": "weeks", "mos": "months",
    "pt": "patient", "pts": "patients", "hx": "history", "fhx": "family history", "pmh": "past medical history",
    "sx": "symptoms", "sxs": "symptoms", "dx": "diagnosis", "ddx": "differential diagnosis", "tx": "treatment",
    "fx": "fracture", "bx": "biopsy", "htn": "hypertension", "dm": "diabetes mellitus",
    "cad": "coronary artery disease", "chf": "congestive heart failure", "mi": "myocardial infarction",
    "afib": "atrial fibrillation", "copd": "chronic obstructive pulmonary disease",
    "sob": "shortness of breath", "cp": "chest pain", "abd": "abdominal",
    "uti": "urinary tract infection", "uri": "upper respiratory infection", "ckd": "chronic kidney disease",
    "esrd": "end stage renal disease", "aki": "acute kidney injury", "gerd": "gastroesophageal reflux disease",
    "tia": "transient ischemic attack", "cva": "stroke", "dvt": "deep venous thrombosis",
    "pe": "pulmonary embolism", "bp": "blood pressure", "rr": "respiratory rate", "temp": "temperature",
    "wbc": "white blood cell", "rbc": "red blood cell", "hgb": "hemoglobin", "hb": "hemoglobin",
    "plt": "platelet", "cxr": "chest x ray", "ekg": "ecg", "electrocardiogram": "ecg",
    "electrocardiography": "ecg", "ed": "emergency department", "er": "emergency department",
    "icu": "intensive care unit", "pcp": "primary care physician", "bid": "twice daily",
    "tid": "three times daily", "qid": "four times daily", "qd": "daily", "prn": "as needed", "po": "orally",
    "intravenous": "iv", "intravenously": "iv", "intramuscular": "im", "intramuscularly": "im",
    "subcutaneous": "sc", "subq": "sc", "subcut": "sc", "gastrointestinal": "gi", "cns": "central nervous system",
    "sle": "systemic lupus erythematosus", "tb": "tuberculosis", "mets": "metastases", "sz": "seizure",
    "loc": "loss of consciousness", "etoh": "alcohol", "abx": "antibiotics", "dz": "disease", "neg": "negative",
    "pos": "positive", "nl": "normal", "wnl": "within normal limits", "approx": "approximately",
    "lmp": "last menstrual period", "hpi": "history of present illness", "nkda": "no known drug allergies",
    "vs": "versus", "yearold": "year old", "hrs": "hours", "mins": "minutes",
}  # fmt: skip
_EXPAND = {k: v.split() for k, v in SHORTHAND.items()}
_KEEP = frozenset("is was has does this its his us plus bus gas yes thus less loss ss ous sis".split())


def stem(word: str) -> str:
    """A light suffix stripper (plural and verb endings, then a final ``e``), so ``increased``/
    ``increases``/``increase`` and ``cells``/``cell`` meet; never the Latin ``-us``/``-is``/``-ss``."""
    if len(word) <= 3 or word in _KEEP or not word.isalpha():
        return word
    n = len(word)
    if n > 5 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif n > 5 and word.endswith("ing"):
        word = word[:-3]
    elif n > 4 and word.endswith("ed") and not word.endswith("eed"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


_NORM: dict[str, tuple[str, ...]] = {}


def _norm(token: str) -> tuple[str, ...]:
    words = _EXPAND.get(token)
    out = tuple(stem(w) for w in words) if words else (stem(token),)
    if len(_NORM) > 1_000_000:
        _NORM.clear()
    _NORM[token] = out
    return out


def _left(prev: str) -> tuple[str, int] | None:
    """The lone letter (and optional space) ending ``prev``, before a slash: (letter, chars to cut)."""
    for cut in (1, 2):
        if len(prev) >= cut and (cut == 1 or prev[-1] == " "):
            c = prev[-cut]
            if "a" <= c <= "z" and (len(prev) == cut or not prev[-cut - 1].isalnum()):
                return c, cut
    return None


def _right(nxt: str) -> tuple[str | None, int] | None:
    """The lone letter (after an optional space) starting ``nxt``, after a slash, or nothing."""
    for cut in (1, 2):
        if len(nxt) >= cut and (cut == 1 or nxt[0] == " "):
            c = nxt[cut - 1]
            if "a" <= c <= "z" and (len(nxt) == cut or not nxt[cut].isalnum()):
                return c, cut
    return (None, 0) if not nxt or not nxt[0].isalnum() else None


def _slashes(text: str) -> str:
    """``x/y`` shorthand (``SLASHED``) -> its words; a few string operations per slash."""
    pieces = text.split("/")
    out = pieces[0]
    for nxt in pieces[1:]:
        left, right = _left(out), _right(nxt)
        words = SLASHED.get((left[0], right[0])) if left and right else None
        if words:
            out = f"{out[: len(out) - left[1]]} {words} {nxt[right[1] :]}"
        else:
            out = f"{out}/{nxt}"
    return out


def _prepare(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _slashes(text) if "/" in text else text


def tokens(text: str) -> list[str]:
    """Normalised word tokens of ``text`` (see the module docstring)."""
    out: list[str] = []
    get = _NORM.get
    for t in _WORD.findall(_prepare(text)):
        out.extend(get(t) or _norm(t))
    return out


class Encoder:
    """Texts -> ids of a vocabulary of normalised tokens, a batch at a time: each raw token is normalised
    (and typo-fixed) once, then found with one dict lookup (``map`` over the batch, no per-token Python)."""

    def __init__(self, vocab: dict[str, int], fixer: TypoFixer | None):
        self.vocab, self.fixer = vocab, fixer
        self.single: dict[str, int] = {}  # raw token -> id (>= 0), or -2 - k for expansion k
        self.expansions: list[np.ndarray] = []

    def _learn(self, raw: str) -> int:
        ids = [self.vocab.get(w) or self.vocab.get(self.fixer.fix(w) or "", 0) if self.fixer else
               self.vocab.get(w, 0) for w in (_NORM.get(raw) or _norm(raw))]  # fmt: skip
        if len(ids) == 1:
            self.single[raw] = ids[0]
        else:
            self.single[raw] = -2 - len(self.expansions)
            self.expansions.append(np.array(ids, np.int64))
        return self.single[raw]

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The ids of all ``texts`` one after another, and each text's number of ids. The batch is
        normalised and split as one string (texts joined by a separator the tokeniser returns)."""
        if len(self.single) > 2_000_000:
            self.single, self.expansions = {}, []
        self.single[_SEP] = _SEP_ID
        flat = _WORD_OR_SEP.findall(_prepare(_SEP.join(texts)))
        ids = np.fromiter(map(self.single.get, flat, repeat(-1)), np.int64, count=len(flat))
        for i in np.flatnonzero(ids == -1).tolist():
            known = self.single.get(flat[i])
            ids[i] = known if known is not None else self._learn(flat[i])
        seps = np.flatnonzero(ids == _SEP_ID)
        lengths = np.diff(np.concatenate([[-1], seps, [len(ids)]])) - 1
        ids = np.delete(ids, seps)
        marks = np.flatnonzero(ids <= -2)
        if len(marks):
            parts = [self.expansions[-2 - int(ids[p])] for p in marks]
            reps = np.ones(len(ids), np.int64)
            reps[marks] = [len(e) for e in parts]
            at = np.cumsum(reps) - reps
            out = np.repeat(ids, reps)
            for p, e in zip(marks.tolist(), parts, strict=True):
                out[at[p] : at[p] + len(e)] = e
            lengths = np.bincount(np.repeat(np.arange(len(texts)), lengths), weights=reps,
                                  minlength=len(texts)).astype(np.int64)  # fmt: skip
            ids = out
        return ids, lengths


class TypoFixer:
    """Benchmark vocabulary in; ``fix(token)`` out: the benchmark token one edit away (see the module
    docstring), or None."""

    def __init__(self, vocab: Iterable[str], counts: dict[str, int], min_len: int = 4):
        self.min_len = min_len
        self.counts = counts
        self.known = set(vocab)
        self.deletes: dict[str, list[str]] = {}
        for w in self.known:
            if len(w) >= min_len and w.isalpha():
                for i in range(len(w)):
                    self.deletes.setdefault(w[:i] + w[i + 1 :], []).append(w)

    def fix(self, token: str) -> str | None:
        """The benchmark token ``token`` is a typo of, or None (the encoder remembers the answer)."""
        if len(token) < self.min_len or not token.isalpha():
            return None
        cands = set(self.deletes.get(token, ()))
        for i in range(len(token)):
            d = token[:i] + token[i + 1 :]
            if d in self.known:
                cands.add(d)
            cands.update(w for w in self.deletes.get(d, ()) if _one_edit(token, w))
        # typos fall inside words more often than on their ends: keep the ends, then the commoner word
        return (
            max(cands, key=lambda w: (w[-1] == token[-1], w[0] == token[0], self.counts.get(w, 0), w))
            if cands
            else None
        )


def _one_edit(a: str, b: str) -> bool:
    """Same length and one substitution or one swap of neighbours (deletions/insertions are found
    directly by ``TypoFixer``)."""
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                              and a[diff[1]] == b[diff[0]])  # fmt: skip
