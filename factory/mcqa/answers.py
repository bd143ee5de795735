"""Reading the option an MCQA answer concludes on, the way models really write it.

``parse_answer(text, n_options, options)`` tries the forms of ``FORMS`` in order (each form's docstring
says what it reads; the regular expressions are in ``factory.mcqa.answer_patterns``, the reading after a
cue in ``factory.mcqa.answer_cues``, the matching of option texts in ``factory.mcqa.answer_mentions``):

1. stated conclusions, read anywhere, the LAST one wins: a JSON answer (``{"answer": "C", ...}``), an
   explicit final answer ("Final answer: B", ``\\boxed{B}``, "Respuesta: B"), an answer statement ("the
   correct answer is (b)", "I'd go with D", "the most likely diagnosis is pneumonia (B)", "which leaves C",
   "the answer isn't A — it's B"),
   a closing connective ("So C.", "Thus, (b)."), a letter referred to ("which corresponds to choice A",
   "That's option B.", "I'm confident in C.", "The exception is E."), a letter closing the last sentence
   after a copula or a mark, whatever letters the reasoning walked through before ("... The initial test
   here is B.", "... fits best: B.", "... thyroiditis, (d)."), an option named by its place ("the second
   option listed", "The first option, then."), the option's text with its letter in the last sentence
   ("... is pneumonia (option B).", "... is Listeria, choice A.");
2. failing those, "B is correct" / "Option C (nephrolithiasis) is correct because ...";
3. then a conclusion by elimination: every option but one ruled out ("Not A, not B, not D.", "every choice
   other than D contains an error");
4. then the last line or last sentence holding only a letter, or a letter and its option's text ("(A)
   Acute cystitis."), or only one option's text ("Pneumonia.", "Therefore: nephrolithiasis");
5. then a text that opens with its letter and explains ("B. In adults ..."), and last a closing sentence
   that states exactly one option's text, however shortened, without its letter ("... so I would give IV
   calcium gluconate.", "The usual cause is Campylobacter jejuni.", "... monitored with the INR",
   "Ampicillin plus gentamicin covers all three." after the others were set aside).

A later self-correction ("The answer is A... wait, the answer is C", "I first thought A, but the answer is
actually D", "B is correct. Actually, D is correct.") overrides an earlier conclusion, and the text is
flagged ``changed``; a first thought alone ("I first thought A.") is no answer. Refused (``ambiguous``, no
option): a conclusion naming several options ("B or C", "either A or D", "A, B and C"), a hedge ("B, but C
is also possible", "The answer is B. However, C could also be correct.", "... Actually I don't know."), a
letter given another option's text ("B. Nephrolithiasis" when that is C), two explicit final answers that
disagree with no correction between them ("Answer: D. ... Answer: C."), a letter the reasoning
contradicts ("Metformin remains first-line. Answer: D." when D is glyburide and never named), and several
options each called correct. "None of the above"
when no option says so is ``none_of_the_above``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from factory.mcqa import answer_patterns as P
from factory.mcqa.answer_cues import Hit, Text, contradicted, cued, finals_disagree, taken_back
from factory.mcqa.answer_mentions import (
    concluded_option,
    describes_options,
    hedges,
    mentioned,
    only_option,
    option_by_text,
    same_text,
    walks_options,
)
from factory.mcqa.options import OPTION_LABELS, fold


@dataclass(frozen=True)
class ParsedAnswer:
    """The option a text concludes on.

    ``index``: 0-based option, ``None`` when none could be read. ``how``: ``final`` (explicit final answer),
    ``answer`` (a stated answer), ``reverse`` ("B is correct"), ``elimination`` (all options but one ruled
    out), ``last_line`` (a bare letter, or a letter and its text, closing the text), ``opening_letter`` (a
    letter opening the text, then its explanation), ``option_text`` (the last sentence states one option's
    text), ``ambiguous`` (several options, or a letter and another option's
    text), ``none_of_the_above`` (it rejects every option), ``none``. ``line``: the line (0-based) of the
    conclusion. ``conclusions``: every option the text concluded on, in order; ``changed`` when they differ."""

    index: int | None
    how: str
    line: int | None = None
    conclusions: tuple[int, ...] = field(default_factory=tuple)
    detail: str | None = None

    @property
    def changed(self) -> bool:
        return len(set(self.conclusions)) > 1

    @property
    def label(self) -> str | None:
        return None if self.index is None else OPTION_LABELS[self.index]


def normalise(text: str) -> str:
    """NFKC (full-width letters), ``\\boxed{X}`` as a final answer, no markdown emphasis or code marks."""
    text = unicodedata.normalize("NFKC", text)
    text = P.BOXED.sub(lambda m: f"final answer: {m.group(1)}", text)
    return P.MARKDOWN.sub("", text)


# -- the forms, in the order they are tried -------------------------------------------------------------
def final_answer(t: Text) -> list[Hit]:
    """An explicit final answer: "Final answer: B", "Answer - B", "Answer => (b)", "**Answer:** B)
    Pneumonia", ``\\boxed{B}``, "Respuesta: B", "Réponse finale : B", "Antwort: B", "答案：B", "Ответ: B"."""
    return cued(t, P.FINAL_CUE, 1)


def stated_answer(t: Text) -> list[Hit]:
    """An answer stated in a sentence: "the correct answer is (b)", "the best option here is C", "I'd go
    with D", "I'm going with "Pneumonia"", "the most likely diagnosis is pneumonia (B)", "the answer must be
    D, since A, B and C are ruled out", "which leaves C", "we are left with B", "la respuesta correcta es
    la B", "die richtige Antwort ist B", "正确答案是B"; the option's text instead of its letter ("The answer
    is pneumonia"), the longest matching option."""
    return cued(t, P.ANSWER_CUE, 2)


def closing_connective(t: Text) -> list[Hit]:
    """A connective and a letter closing its sentence: "So C.", "Thus, B.", "Hence (c).", "So it's C.",
    "Therefore option D, because ..."; or a connective and exactly one option's whole text: "Therefore:
    Nephrolithiasis", "So it has to be pneumonia."."""
    return cued(t, P.CONNECTIVE, 2, strict=True)


def text_then_letter(t: Text) -> list[Hit]:
    """The last sentence names an option by its text with its letter in brackets: "So the diagnosis here
    is pneumonia (option B).", "... is X (B)". The text must be that option's (another option's text:
    ambiguous); a negated sentence ("Pneumonia (B) is unlikely") or one naming two letters is not read."""
    start, sentence = t.last_sentence()
    brackets = list(P.BRACKETED.finditer(sentence))
    if not brackets or P.NOT_IT.search(sentence) or len({b.group("b").upper() for b in brackets}) > 1:
        return []
    bracket = brackets[-1]
    index = t.label(bracket.group("b"))
    before = fold(sentence[: bracket.start()])
    said = [
        i for i, o in enumerate(t.options or []) if fold(o or "") and (before + " ").endswith(f" {fold(o)} ")
    ]
    if index is None or not said:
        return []
    if index not in said:
        detail = f"text of option {OPTION_LABELS[said[0]]} with letter {OPTION_LABELS[index]}"
        return [Hit(2, start, None, "ambiguous", detail)]
    return [Hit(2, start, index, "answer")]


def json_answer(t: Text) -> list[Hit]:
    """A JSON answer: ``{"answer": "C", "explanation": "..."}``, also ``"final_answer"``, ``"choice"``,
    ``"correct_option"``; the value may be the option's text (``{"answer": "Rifampin"}``)."""
    return cued(t, P.JSON_ANSWER, 1)


def letter_reference(t: Text) -> list[Hit]:
    """A letter referred to, closing its sentence: "..., which corresponds to choice A.", "That's option
    B.", "I'm confident in C.", "The exception is E.", "The organism is Listeria, choice A."."""
    return cued(t, P.LETTER_REF, 2, strict=True)


def closing_reference(t: Text) -> list[Hit]:
    """The last sentence ends on a letter after a copula or a mark, whatever reasoning walked through other
    letters before it: "A is slower. C only if the CT is negative. The initial test here is B.", "D can
    mimic this, but ... fits best: B.", "... -> de Quervain thyroiditis, (d).", "... the odd one out: C.".
    Not a list ("rules out A, B."), a negated or hedged clause ("I'm not sure, B.", "It might be B.")."""
    start, sentence = t.last_sentence()
    m = P.CLOSING_REF.search(sentence)
    index = t.label(m.group("b") or m.group("u")) if m else None
    if m is None or index is None or hedges(sentence) or P.ENDS_ON_LETTER.search(sentence[: m.start()]):
        return []
    clause = P.CLAUSE_BREAK.split(sentence[: m.start("link")])[-1]
    if P.NOT_IT.search(clause):
        return []
    return [Hit(2, start + m.start("letter"), index, "answer")]


def ordinal_option(t: Text) -> list[Hit]:
    """An option named by its place: "the cause is the second option listed", "I'd pick the last one".
    An option's text right after it that is another option's: ambiguous."""
    hits = []
    for m in P.ORDINAL.finditer(t.text):
        word = m.group("ord").lower()
        index = t.n_options - 1 if word == "last" else P.ORDINALS[word]
        if index >= t.n_options or P.NEGATED.search(t.text, max(0, m.start() - 24), m.start() + 3):
            continue
        after = P.SENTENCE_END.split(t.text[m.end() :], maxsplit=1)[0]
        named = mentioned(after, t.options)
        if named and named != {index}:
            hits.append(Hit(2, m.start(), None, "ambiguous", f"the {word} option, named as another"))
        else:
            hits.append(Hit(2, m.start(), index, "answer"))
    return hits


def first_thought(t: Text) -> list[Hit]:
    """A first thought the text may revise: "I first thought A, but the answer is actually D", "My first
    instinct was A". Counted among the conclusions (the text is then ``changed``), never the answer itself."""
    hits = cued(t, P.FIRST_THOUGHT, 2)
    return [Hit(h.tier, h.pos, h.index, "first_thought") for h in hits if h.index is not None]


def called_correct(t: Text) -> list[Hit]:
    """An option called correct: "B is correct", "Option (C) is the best answer", "B: Correct", "B) Pneumonia
    is the best choice here", "Option C (nephrolithiasis) is correct because ...", "B it is", "D fits best",
    "c is the answer" (a lowercase letter opening its sentence). Several
    different options called correct (and no stated conclusion): ambiguous."""
    hits = []
    for m in P.REVERSE.finditer(t.text):
        index = t.label(next(x for x in m.group("u", "o", "u2", "u3", "u4") if x))
        if index is None:
            continue
        said = m.group("said") or m.group("said2")
        named, _ = option_by_text(said or "", t.options)
        if said and named is not None and named != index and not same_text(t.options, index, named):
            detail = f"letter {OPTION_LABELS[index]} with the text of option {OPTION_LABELS[named]}"
            hits.append(Hit(3, m.start(), None, "ambiguous", detail))
        else:
            hits.append(Hit(3, m.start(), index, "reverse"))
    return hits


def by_elimination(t: Text) -> list[Hit]:
    """Every option but one ruled out, no option chosen: "A, B and D are wrong.", "Not A, not B, not D.",
    "We can rule out A, B and C", "A is incorrect. C is incorrect. D is incorrect.", "every choice other than
    D contains an error", "all but B are wrong" -> the one left."""
    out: set[int] = set()
    for pattern in (P.RULED_OUT_BEFORE, P.RULED_OUT_AFTER):
        for m in pattern.finditer(t.text):
            out.update(i for x in P.LIST_LETTER.findall(m.group("list")) if (i := t.label(x)) is not None)
    for m in P.ALL_BUT.finditer(t.text):  # "every choice other than D contains an error"
        kept = t.label(m.group("b") or m.group("u"))
        out.update(i for i in range(t.n_options) if kept is not None and i != kept)
    left = set(range(t.n_options)) - out
    if t.n_options < 2 or len(left) != 1:
        return []
    return [Hit(4, len(t.text.rstrip()), left.pop(), "elimination", "every other option ruled out")]


def closing_letter(t: Text) -> list[Hit]:
    """The last line, or the last sentence of it, is only a letter, or a letter and its option's text:
    "**B**", "B.", "(C)", "B) Pneumonia", "... fit. (A) Acute cystitis."; not the last line of a list of
    options ("C. Nephrolithiasis\nD. Acute glomerulonephritis")."""
    stripped = t.text.rstrip()
    last_line = (stripped.rfind("\n") + 1, stripped.rsplit("\n", 1)[-1])
    above = stripped[: last_line[0]].rstrip().rsplit("\n", 1)[-1]
    if P.OPTION_START.match(above) and P.OPTION_START.match(last_line[1]):  # the end of a copied option list
        return []
    for at, piece in (last_line, t.last_sentence()):
        match = P.LAST_LINE.match(piece.strip())
        index = t.label(match.group("u")) if match else None
        if index is None:
            continue
        own = fold((t.options or [""] * t.n_options)[index] or "")
        if fold(match.group("rest") or "") in ("", own):  # type: ignore[union-attr]
            return [Hit(5, at, index, "last_line")]
    return []


def closing_text(t: Text) -> list[Hit]:
    """The last sentence is exactly one option's text, after a connective and before "is the answer" at
    most: "Pneumonia.", "Therefore: nephrolithiasis", "Pneumonia is the most likely diagnosis."; or it quotes
    exactly one option's text and negates nothing: 'What explains it best is "acute cystitis".'. Two
    options with that text, or none: not read."""
    start, sentence = t.last_sentence()
    index = only_option(P.CLOSING_TAIL.sub("", P.OPENING.sub("", sentence)), t.options)
    if index is None and not P.NOT_IT.search(sentence):  # one quoted option text: '... is "pneumonia".'
        quoted = {i for q in P.QUOTED.findall(sentence) if (i := only_option(q, t.options)) is not None}
        index = quoted.pop() if len(quoted) == 1 else None
    return [] if index is None else [Hit(5, start, index, "option_text")]


def opening_letter(t: Text) -> list[Hit]:
    """The text opens with a letter and then explains: "B. In adults the usual cause is ...", "**C** -
    because ...". Not when what follows is another option's text, nor in an option-by-option walk ("A: ...
    B: ...") or a copy of the option list."""
    m = P.OPENING_LETTER.match(t.text)
    index = t.label(m.group("u")) if m else None
    if m is None or index is None or walks_options(t.text):
        return []
    if hedges(P.SENTENCE_END.split(m.group("rest"))[0]):  # "C: not sure between C and D."
        return []
    by_text, _ = option_by_text(m.group("rest"), t.options)
    if by_text is not None and by_text != index and not same_text(t.options, index, by_text):
        return []
    return [Hit(5, 0, index, "opening_letter")]


def mentioned_option(t: Text) -> list[Hit]:
    """The last sentence states one option's text, however shortened, without its letter: "... so I would
    give IV calcium gluconate.", "The usual cause is Campylobacter jejuni.", "... is amlodipine (option C)",
    "monitored with the INR" (see ``factory.mcqa.answer_mentions``). Not when it names several options,
    negates or hedges ("might be"), or names another option's letter."""
    start, sentence = t.last_sentence()
    subject = not describes_options(t.text, t.options)
    index = None if walks_options(t.text) else concluded_option(sentence, t.options, t.n_options, subject)
    return [] if index is None else [Hit(5, start, index, "option_text")]


Form = Callable[[Text], list[Hit]]
STATED: tuple[Form, ...] = (
    json_answer,
    final_answer,
    stated_answer,
    closing_connective,
    letter_reference,
    closing_reference,
    ordinal_option,
    text_then_letter,
)
FALLBACKS: tuple[Form, ...] = (by_elimination, closing_letter, closing_text, opening_letter, mentioned_option)
FORMS: tuple[Form, ...] = (*STATED, first_thought, called_correct, *FALLBACKS)  # the order they are tried in


def parse_answer(text: str | None, n_options: int, options: list[str] | None = None) -> ParsedAnswer:
    """The option ``text`` concludes on, among ``n_options`` labelled A, B, C... (see the module docstring).

    ``options``: the option texts, to read an answer given as text ("The answer is pneumonia")."""
    if not text or not text.strip() or n_options < 1:
        return ParsedAnswer(None, "none", detail="empty answer")
    t = Text(normalise(text), n_options, options)
    stated = _dedupe([hit for form in STATED[:-1] for hit in form(t)])
    if not stated or stated[-1].pos < t.last_sentence()[0]:  # the last sentence has no other conclusion
        stated = _dedupe(stated + text_then_letter(t))
    reverse = called_correct(t)
    firsts = first_thought(t)  # a first thought only ever adds to the conclusions
    line = lambda hit: t.text.count("\n", 0, hit.pos)  # noqa: E731
    if stated:  # "B is correct" statements count as conclusions too (a text that changes its mind)
        last = stated[-1]
        final = finals_disagree(t.text, stated) or taken_back(t, last) or contradicted(t, last) or last
        seen = _conclusions(firsts + stated + [h for h in reverse if h.index is not None])
        return ParsedAnswer(final.index, final.how, line(final), seen, final.detail)
    if reverse:
        named = {h.index for h in reverse}
        if (
            len(named) > 1 and None not in named and _corrected(t.text, reverse)
        ):  # "B is correct. Actually, D"
            return ParsedAnswer(
                reverse[-1].index, "reverse", line(reverse[-1]), _conclusions(firsts + reverse)
            )
        if len(named) > 1 or None in named:
            said = ", ".join(OPTION_LABELS[i] for i in sorted(i for i in named if i is not None))
            detail = next((h.detail for h in reverse if h.detail), f"calls {said} correct")
            return ParsedAnswer(None, "ambiguous", line(reverse[-1]), tuple(sorted(named - {None})), detail)
        seen = _conclusions(firsts + reverse) if firsts else ()
        return ParsedAnswer(reverse[-1].index, "reverse", line(reverse[-1]), seen)
    for form in FALLBACKS:
        for hit in form(t):
            seen = _conclusions(firsts, hit) if firsts else ()
            return ParsedAnswer(hit.index, hit.how, line(hit), seen, hit.detail)
    return ParsedAnswer(None, "none", detail="no conclusion found")


def _corrected(text: str, hits: list[Hit]) -> bool:
    """A correction ("actually", "wait") stands between the last hit and the last one before it that
    named another option."""
    last = hits[-1]
    other = next((h for h in reversed(hits[:-1]) if h.index != last.index), None)
    return other is not None and bool(P.CORRECTION.search(text, other.pos, last.pos))


def _conclusions(hits: list[Hit], final: Hit | None = None) -> tuple[int, ...]:
    """Every option ``hits`` conclude on, in text order, then ``final``'s (a form read after them)."""
    found = tuple(h.index for h in sorted(hits, key=lambda h: h.pos) if h.index is not None)
    return found if final is None or final.index is None else (*found, final.index)


def _dedupe(hits: list[Hit]) -> list[Hit]:
    """Hits in text order, one per place (a "final answer" cue and an "answer:" cue on the same words)."""
    out: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.pos, h.tier)):
        if out and out[-1].pos == hit.pos:
            continue
        out.append(hit)
    return out
