"""What decontamination matches: the rules of a match, benchmark item groups, and the candidates a row gets."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rules:
    """How a row matches an item (the ``decontaminate`` stage's params of the same names)."""

    ngram: int = 13
    min_ngram_matches: int = 1
    min_ngram_share: float = 0.2
    max_ngram_df: int = 3
    min_rare_tokens: int = 1
    rare_token_df: float = 0.01
    question_match: bool = True
    min_question_tokens: int = 4
    question_alone_tokens: int = 8
    question_alone_rare: int = 2
    min_option_matches: int = 2
    option_rule_min: int = 3
    min_question_overlap: float = 0.6
    min_row_overlap: float = 0.4
    max_option_df: int = 20
    typos: bool = True
    terms: bool = True
    term_max_df: float = 0.02
    term_drop: float = 0.75
    term_question: float = 0.6
    term_row: float = 0.3
    term_min_count: int = 5
    term_partial_row: float = 0.9
    term_partial_item: float = 0.5
    term_partial_question: float = 0.3
    candidate_cover: float = 0.5
    verify_pairs: float = 0.45
    max_candidates: int = 3


@dataclass
class Group:
    """Benchmark items with the same normalised question and context (copies of one item)."""

    members: list[tuple[str, str]]  # (benchmark, item id)
    question: list[str]
    context: list[str]
    options: list[str]  # normalised options (tokens joined by spaces)
    text: str = ""  # the first member's context and question, as written
    raw_options: list[str] = field(default_factory=list)  # its options, as written
    question_df: int = 1
    question_rare: int = 0  # distinct rare tokens of the question


@dataclass(frozen=True)
class Candidate:
    """A benchmark item a text may copy: ``kind`` is the tier that found it, ``score`` its strength in
    [0, 1] (n-gram share, question coverage, term coverage...), ``confident`` whether the tier alone
    calls it a copy; ``also``: the same item in other benchmark files."""

    benchmark: str
    item: str
    kind: str
    score: float
    confident: bool
    evidence: str
    group: int
    also: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()  # every tier that found the item (confidently, for a confident one)
