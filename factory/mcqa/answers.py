"""Reading the option an MCQA answer concludes on, the way models really write it.

``parse_answer(text, n_options, options)`` finds every conclusion in a text and returns the last one:

- explicit final answers: "Final answer: B", "Answer - B", "Answer => (b)", "**Answer:** B) Pneumonia",
  ``\\boxed{B}``, "Respuesta: B", "Réponse finale : B", "Antwort: B", "答案：B", "Ответ: B";
- answer statements: "the correct answer is (b)", "the best option here is C", "I'd go with D", "my choice
  is A", "the most likely diagnosis is pneumonia (B)", "la respuesta correcta es la B", "la bonne réponse est
  B", "die richtige Antwort ist B", "正确答案是B";
- the option's text instead of its letter ("The answer is pneumonia"), the longest matching option;
- failing those, "B is correct" / "Option B is the best answer", then a last line holding only a letter.

The last explicit or stated conclusion wins, so a later self-correction ("The answer is A... wait, the
answer is C") overrides an earlier one, and the text is flagged ``changed``. A conclusion naming several
options ("B or C", "A, B and C"), or a letter whose text is another option's ("B. Nephrolithiasis" when
that is C), is ``ambiguous`` and names none.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from factory.mcqa.options import OPTION_LABELS, fold, label_index

_LETTERS = "A-Z"
# Tier 1: an explicit final answer (English "final answer", or a label at the start of a line).
_FINAL_CUE = re.compile(
    r"\bfinal\s+(?:answer|choice|response|option|selection|verdict)\b"
    r"|\b(?:respuesta|réponse|reponse|resposta|risposta)\s+(?:final|finale|correcta|correcte|correta|corretta)\b"
    r"|\bendgültige\s+antwort\b|окончательный\s+ответ"
    r"|^[ \t>#*_\-•]*(?:answer|ans|respuesta|réponse|reponse|antwort|resposta|risposta|ответ|conclusion)"
    r"\s*(?=[:：=\-–—>)])"
    r"|(?:正确)?答案\s*(?:[:：是为])?",
    re.I | re.M,
)
# Tier 2: an answer stated in a sentence.
_ANSWER_CUE = re.compile(
    r"\b(?:(?:correct|best|right|true|most\s+(?:likely|appropriate|accurate|correct|probable|suitable)|"
    r"single\s+best|only\s+correct)\s+(?:answer|option|choice|response|statement|diagnosis)"
    r"(?:\s+(?:here|to\s+this\s+question|among\s+the\s+options))?"
    r"|(?:most\s+likely|probable|likely|final|working|correct)\s+diagnosis|(?m:^)[ \t>#*_\-•]*diagnosis\s*(?=[:：])"
    r"|(?<!final\s)answer(?:\s+(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\b|\s*[:=])"
    r"|\bi\s*(?:'d|'ll|\s+would|\s+will|\s+am\s+going\s+to|\s+shall)?\s+(?:choose|select|pick|go\s+with|opt\s+for|mark)"
    r"|\bmy\s+(?:final\s+)?(?:answer|choice|pick|selection|vote)(?:\s+is|\s+would\s+be|\s*:)"
    r"|\bi\s+(?:think|believe)\s+(?:the\s+answer\s+is|it'?s|it\s+is)"
    r"|\b(?:la\s+)?(?:respuesta|opción|opcion)\s+(?:correcta\s+)?es"
    r"|\b(?:la\s+)?(?:bonne\s+)?réponse\s+(?:correcte\s+)?est|\bla\s+bonne\s+option\s+est"
    r"|\bdie\s+(?:richtige|korrekte)\s+antwort\s+ist|\bantwort\s+ist"
    r"|\ba\s+resposta\s+(?:correta\s+)?é|\bla\s+risposta\s+(?:corretta\s+)?è"
    r"|правильный\s+ответ\s*(?:[-—:]|это)?"
    r"|正确(?:的)?(?:答案|选项)(?:是|为)|答案(?:是|为)|选择?)",
    re.I,
)
# What may sit between a cue and the letter: "is", ":", "therefore", "option", markdown...
_LINK = re.compile(
    r"(?:\s|[:：=\-–—>*#]|\b(?:is|are|would|should|must|will|be|then|therefore|thus|here|clearly|probably|"
    r"definitely|option|choice|letter|it's|it|es|est|ist|la|el|le|l'option|opción|opcion|opção|opzione|"
    r"вариант|это)\b|选项)*",
    re.I,
)
# A letter right after a cue: "(b)", "[B]", "B" not followed by a letter, "b" closed by punctuation.
_LETTER_AT = re.compile(
    r"[\(\[]\s*(?P<b>[A-Za-z])\s*[\)\]]|(?P<u>[A-Z])(?![A-Za-z0-9'’])|(?P<l>[a-z])(?=\s*(?:[).:,;]|$))", re.M
)
# Another option named right after the first one: "B or C", "A, B", "A and D", "B/C", "B o C".
_ALTERNATIVE = re.compile(
    r"\s*(?:,|/|&|\bor\b|\band\b|\bo\b|\bou\b|\boder\b|\by\b|\bet\b|\bund\b|或)\s*(?:option\s+|choice\s+)?"
    r"(?:[\(\[]\s*[A-Za-z]\s*[\)\]]|[A-Z](?![A-Za-z0-9'’]))"
)
# An option's letter in brackets after its text: "pneumonia (B)", "pneumonia [option B]".
_BRACKETED = re.compile(r"[\(\[]\s*(?:option\s+|choice\s+)?(?P<b>[A-Za-z])\s*[\)\]]", re.I)
# Tier 3: "B is correct", "Option (C) is the best answer", "B: Correct".
_REVERSE = re.compile(
    r"(?:\b(?i:option|choice)\s+)?[\(\[]?\b(?P<u>[A-Z])[\)\]]?(?:[.)]\s*[^\n]{0,80}?)?"
    r"(?:\s+(?i:is)\s+(?:(?i:the)\s+)?|\s*[:\-–—]\s*)(?i:correct|right|best|most\s+appropriate|most\s+likely|answer)\b"
    r"(?!\s+(?i:in|if|only|but|that|to)\b)",
)
# Tier 4: a last line that is only a letter (with its option text): "**B**", "B.", "(B)", "B) Pneumonia".
_LAST_LINE = re.compile(
    r"^[\W_]*?(?:option\s+|choice\s+)?[\(\[]?(?P<u>[A-Za-z])[\)\]]?(?:\s*(?:[.):\-–—])\s*(?P<rest>.*))?[\W_]*$",
    re.I,
)
# Words before a cue that make it no conclusion: "the incorrect answer is A", "not the correct answer".
_NEGATED = re.compile(
    r"\b(?:incorrect|not|wrong|false|isn't|least)[ \t]+(?:the[ \t]+|a[ \t]+)?(?:\w+[ \t]+)?$", re.I
)
# The start of a line naming an option: "B.", "(C)", "D)".
_OPTION_START = re.compile(r"[ \t]*[*_>\-•]*[ \t]*[\(\[]?(?P<letter>[A-Za-z])[\)\]]?[ \t]*[.):]")
_NONE_OF = re.compile(r"^(?:none\s+of\s+(?:the\s+)?(?:above|these|them|options|choices))\b", re.I)
_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text\s*\{)?\s*([^{}]*?)\s*\}?\s*\}")
_MARKDOWN = re.compile(r"\*\*|__|`|\$")


@dataclass(frozen=True)
class ParsedAnswer:
    """The option a text concludes on.

    ``index``: 0-based option, ``None`` when none could be read. ``how``: ``final`` (explicit final answer),
    ``answer`` (a stated answer), ``reverse`` ("B is correct"), ``last_line`` (a bare letter on the last
    line), ``ambiguous`` (the conclusion names several options, or a letter and another option's text),
    ``none_of_the_above`` (it rejects every option), ``none``. ``line``: the line (0-based) of the
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


@dataclass(frozen=True)
class _Hit:
    tier: int
    pos: int
    index: int | None
    how: str
    detail: str | None = None


def normalise(text: str) -> str:
    """NFKC (full-width letters), ``\\boxed{X}`` as a final answer, no markdown emphasis or code marks."""
    text = unicodedata.normalize("NFKC", text)
    text = _BOXED.sub(lambda m: f"final answer: {m.group(1)}", text)
    return _MARKDOWN.sub("", text)


def option_by_text(said: str, options: list[str] | None) -> tuple[int | None, int]:
    """The option whose text ``said`` starts with (the longest when several do) and its folded length."""
    said = fold(said)
    best, best_len = None, 0
    for i, option in enumerate(options or []):
        folded = fold(option or "")
        if folded and (said == folded or said.startswith(folded + " ")) and len(folded) > best_len:
            best, best_len = i, len(folded)
    return best, best_len


def _after_cue(text: str, end: int, tier: int, n_options: int, options: list[str] | None) -> _Hit | None:
    pos = _LINK.match(text, end).end()
    how = "final" if tier == 1 else "answer"
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end < 0 else line_end
    letter = _LETTER_AT.match(text, pos)
    if letter and "\n" in text[end:pos]:  # "The correct answer is:" above a list of options is no conclusion
        below = _OPTION_START.match(text, line_end + 1)
        if below and below.group("letter").upper() != (letter.group("b") or letter.group("u") or "").upper():
            return None
    if letter:
        label = (letter.group("b") or letter.group("u") or letter.group("l")).upper()
        index = OPTION_LABELS.index(label)
        if index < n_options:
            alternative = _ALTERNATIVE.match(text, letter.end())
            if alternative:
                return _Hit(tier, pos, None, "ambiguous", text[pos : alternative.end()].strip())
            rest = re.sub(r"^[\s.):\-–—]+", "", text[letter.end() : line_end])
            by_text, _ = option_by_text(rest, options)
            if by_text is not None and by_text != index and not _same_text(options, index, by_text):
                detail = f"letter {label} with the text of option {OPTION_LABELS[by_text]}"
                return _Hit(tier, pos, None, "ambiguous", detail)
            return _Hit(tier, pos, index, how)
    rest = text[pos:line_end]
    index, _ = option_by_text(rest, options)
    if index is not None:
        bracket = _BRACKETED.search(rest, 0, len(options[index]) + 24)  # type: ignore[index]
        if bracket:
            named = label_index(bracket.group("b"))
            if named != index and not _same_text(options, index, named):
                detail = f"text of option {OPTION_LABELS[index]} with letter {OPTION_LABELS[named]}"
                return _Hit(tier, pos, None, "ambiguous", detail)
        return _Hit(tier, pos, index, how)
    if _NONE_OF.match(fold(rest)):
        return _Hit(tier, pos, None, "none_of_the_above", rest.strip()[:80])
    return None


def _same_text(options: list[str] | None, i: int, j: int) -> bool:
    if not options or max(i, j) >= len(options):
        return False
    return fold(options[i] or "") == fold(options[j] or "")


def parse_answer(text: str | None, n_options: int, options: list[str] | None = None) -> ParsedAnswer:
    """The option ``text`` concludes on, among ``n_options`` labelled A, B, C... (see the module docstring).

    ``options``: the option texts, to read an answer given as text ("The answer is pneumonia")."""
    if not text or not text.strip() or n_options < 1:
        return ParsedAnswer(None, "none", detail="empty answer")
    text = normalise(text)
    stated: list[_Hit] = []
    for tier, cue in ((1, _FINAL_CUE), (2, _ANSWER_CUE)):
        for match in cue.finditer(text):
            if _NEGATED.search(text, max(0, match.start() - 24), match.start()):
                continue
            hit = _after_cue(text, match.end(), tier, n_options, options)
            if hit is not None:
                stated.append(hit)
    stated = _dedupe(stated)
    reverse = [m for m in _REVERSE.finditer(text) if OPTION_LABELS.index(m.group("u")) < n_options]
    if stated:  # "B is correct" statements count as conclusions too (a text that changes its mind)
        final = stated[-1]
        everything = [(h.pos, h.index) for h in stated] + [
            (m.start(), OPTION_LABELS.index(m.group("u"))) for m in reverse
        ]
        conclusions = tuple(i for _, i in sorted(everything, key=lambda hit: hit[0]) if i is not None)
        return ParsedAnswer(final.index, final.how, text.count("\n", 0, final.pos), conclusions, final.detail)
    if reverse:
        named = {OPTION_LABELS.index(m.group("u")) for m in reverse}
        last = reverse[-1]
        line = text.count("\n", 0, last.start())
        if len(named) > 1:
            seen = ", ".join(OPTION_LABELS[i] for i in sorted(named))
            return ParsedAnswer(None, "ambiguous", line, tuple(sorted(named)), f"calls {seen} correct")
        return ParsedAnswer(named.pop(), "reverse", line)
    lines = [(i, ln) for i, ln in enumerate(text.split("\n")) if ln.strip()]
    if lines:  # a bare letter, or a letter and its option's text, on the last line
        number, last_line = lines[-1]
        match = _LAST_LINE.match(last_line.strip())
        index = label_index(match.group("u")) if match else n_options
        if index < n_options and fold(match.group("rest") or "") in (
            "",
            fold((options or [""] * n_options)[index] or ""),
        ):
            return ParsedAnswer(index, "last_line", number)
    return ParsedAnswer(None, "none", detail="no conclusion found")


def _dedupe(hits: list[_Hit]) -> list[_Hit]:
    """Hits in text order, one per place (a "final answer" cue and an "answer:" cue on the same words)."""
    out: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: (h.pos, h.tier)):
        if out and out[-1].pos == hit.pos:
            continue
        out.append(hit)
    return out
