"""What a conclusion's cue leads to: the letter or the option's text right after "the answer is", "So",
"Final answer:" and the like, checked against the option text and the alternatives that may follow it.

In: a ``Text`` (a normalised answer, its question's option count and texts) and a cue's regular expression.
Out: ``Hit`` records (tier, position, option or ``None``, how it was read) for ``factory.mcqa.answers``,
which holds the forms that use them and ``parse_answer``; and the checks that overturn a text's last
conclusion (an ambiguous ``Hit`` instead): two explicit answers that disagree, a conclusion taken back, a
letter that contradicts the option its reasoning concluded on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from factory.mcqa import answer_patterns as P
from factory.mcqa.answer_mentions import concluded_option, mentioned, only_option, option_by_text, same_text
from factory.mcqa.options import OPTION_LABELS, fold, label_index


@dataclass(frozen=True)
class Hit:
    """One conclusion a form read: its tier (lower: tried earlier), where it starts, the option (``None``
    when refused) and how it was read."""

    tier: int
    pos: int
    index: int | None
    how: str
    detail: str | None = None


@dataclass(frozen=True)
class Text:
    """A normalised answer and its question's options, as every form reads them."""

    text: str
    n_options: int
    options: list[str] | None

    def label(self, letter: str) -> int | None:
        index = label_index(letter)
        return index if index < self.n_options else None

    def last_sentence(self) -> tuple[int, str]:
        """Where the last sentence of the last non-empty line starts, and the sentence."""
        stripped = self.text.rstrip()
        start = stripped.rfind("\n") + 1
        ends = [m.end() for m in P.SENTENCE_END.finditer(stripped, start)]
        start = ends[-1] if ends else start
        return start, stripped[start:].strip()


def after_cue(t: Text, end: int, tier: int, strict: bool = False) -> Hit | None:
    """The conclusion a cue ending at ``end`` states: a letter (checked against the option text after it,
    and for another option named right after it), else an option's text (checked against a bracketed letter
    after it), else "none of the above". ``strict``: the letter must close its sentence, the text must be
    the whole rest of the sentence (a connective like "so" opens many sentences that conclude nothing)."""
    text, options = t.text, t.options
    pos = P.LINK.match(text, end).end()
    how = "final" if tier == 1 else "answer"
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end < 0 else line_end
    letter = P.LETTER_AT.match(text, pos)
    if letter and "\n" in text[end:pos]:  # "The correct answer is:" above a list of options is no conclusion
        below = P.OPTION_START.match(text, line_end + 1)
        if below and below.group("letter").upper() != (letter.group("b") or letter.group("u") or "").upper():
            return None
    if letter:
        index = t.label(letter.group("b") or letter.group("u") or letter.group("l"))
        if index is None:
            return None
        alternative = P.ALTERNATIVE.match(text, letter.end()) or P.HEDGE.match(text, letter.end())
        if alternative:
            return Hit(tier, pos, None, "ambiguous", text[pos : alternative.end()].strip())
        if strict and not P.CLOSES.match(text, letter.end()):
            return None
        rest = re.sub(r"^[\s.):\-–—]+", "", text[letter.end() : line_end])
        by_text, _ = option_by_text(rest, options)
        if by_text is not None and by_text != index and not same_text(options, index, by_text):
            detail = f"letter {OPTION_LABELS[index]} with the text of option {OPTION_LABELS[by_text]}"
            return Hit(tier, pos, None, "ambiguous", detail)
        return Hit(tier, pos, index, how)
    rest = text[pos:line_end]
    if strict:
        index = only_option(P.SENTENCE_END.split(rest)[0], options)
        return None if index is None else Hit(tier, pos, index, how)
    index, _ = option_by_text(rest, options)
    if index is not None:
        bracket = P.BRACKETED.search(rest, 0, len(options[index]) + 24)  # type: ignore[index]
        if bracket:
            named = label_index(bracket.group("b"))
            if named != index and not same_text(options, index, named):
                detail = f"text of option {OPTION_LABELS[index]} with letter {OPTION_LABELS[named]}"
                return Hit(tier, pos, None, "ambiguous", detail)
        return Hit(tier, pos, index, how)
    if P.NONE_OF.match(fold(rest)):
        return Hit(tier, pos, None, "none_of_the_above", rest.strip()[:80])
    return None


def cued(t: Text, cue: re.Pattern[str], tier: int, strict: bool = False) -> list[Hit]:
    """What every match of ``cue`` (not negated just before it) concludes on, as ``after_cue`` reads it."""
    hits = []
    for match in cue.finditer(t.text):
        if P.NEGATED.search(t.text, max(0, match.start() - 24), match.start()):
            continue
        hit = after_cue(t, match.end(), tier, strict)
        if hit is not None:
            hits.append(hit)
    return hits


# -- what overturns the last conclusion ------------------------------------------------------------------
def finals_disagree(text: str, stated: list[Hit]) -> Hit | None:
    """An ambiguous hit when the text closes on an explicit final answer that contradicts an earlier
    explicit final answer with no correction between them ("Final answer: B ... Final answer: D")."""
    last = stated[-1]
    if last.tier != 1 or last.index is None:
        return None
    other = next(
        (h for h in reversed(stated[:-1]) if h.tier == 1 and h.index not in (None, last.index)), None
    )
    if other is None or P.CORRECTION.search(text, other.pos, last.pos):
        return None
    seen = f"{OPTION_LABELS[other.index]}, {OPTION_LABELS[last.index]}"  # type: ignore[index]
    return Hit(1, last.pos, None, "ambiguous", f"final answers {seen}")


def taken_back(t: Text, last: Hit) -> Hit | None:
    """An ambiguous hit when a sentence after the last conclusion takes it back ("... it's C. Actually I
    don't know.") or keeps another option open ("The answer is B. However, C could also be correct.")."""
    after = P.SENTENCE_BREAK.search(t.text, last.pos)
    if after is None or last.index is None:
        return None
    unsure = P.UNSURE.search(t.text, after.end())
    other = next(
        (m for m in P.ALSO_POSSIBLE.finditer(t.text, after.end()) if t.label(m["u"]) != last.index), None
    )
    if unsure is None and other is None:
        return None
    return Hit(last.tier, (unsure or other).start(), None, "ambiguous", "takes it back")  # type: ignore[union-attr]


def contradicted(t: Text, last: Hit) -> Hit | None:
    """An ambiguous hit when the text names one option only, not the letter's, and the sentence just before
    the letter gives it a verdict ("first-line", "most likely", "so"), setting nothing aside ("Metformin
    remains first-line here. Answer: D." when D is glyburide): the letter and the reasoning disagree. A plain
    statement ("The enzyme of glycolysis is pyruvate kinase. Final answer: D") may describe an option."""
    named = mentioned(t.text, t.options) if t.options else set()
    if last.index is None or len(named) != 1 or last.index in named:
        return None
    own = t.text.rfind("\n", 0, last.pos) + 1
    own = max([own] + [m.end() for m in P.SENTENCE_END.finditer(t.text, own, last.pos)])
    _, before = Text(t.text[:own], t.n_options, t.options).last_sentence()
    if not before or not P.CONCLUDES.search(before) or P.REJECTS.search(before):  # a verdict, setting none aside
        return None
    said = concluded_option(before, t.options, t.n_options)
    if said is None or said == last.index:
        return None
    detail = f"letter {OPTION_LABELS[last.index]} after a conclusion on option {OPTION_LABELS[said]}"
    return Hit(last.tier, last.pos, None, "ambiguous", detail)
