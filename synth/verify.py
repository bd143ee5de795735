"""The checks a CoT explanation must pass to count as verified (``synth.cot`` runs them in this order).

- ``verify_answer``: the text concludes on the gold option, on one option only (``ambiguous_answer``),
  readably (``unparseable_answer``), and (by default) without concluding on another option first
  (``changed_answer``).
- ``strip_conclusion``: the reasoning without the model's own conclusion lines, so ``to_chat`` adds the
  one canonical "The answer is X. <text>" (never two answer lines).
- ``option_mismatch``: the explanation names the options as the row does: "C. Pneumonia" when Pneumonia
  is C, no option E in a four-option question.
- ``reasoning_words``: how much the explanation says beyond the question and its options (distinct content
  words that are in neither), so a restatement of the question and the answer fails.
- ``letter_skew``: whether the verified rows' gold letters are distributed like the input's.
"""

from __future__ import annotations

import re

from factory.mcqa.answer_mentions import option_by_text
from factory.mcqa.answers import ParsedAnswer, normalise, parse_answer
from factory.mcqa.options import OPTION_LABELS, fold, label_index, option_mentions

# Words that carry no reasoning: function words and the vocabulary of talking about a question.
STOPWORDS = frozenset(
    """a about above after again against all also an and any are as at be because been before being below
    between both but by can could did do does doing down during each either few for from further had has
    have having he her here hers him his how however i if in into is it its itself just may me might more
    most much must my neither no nor not now of off on once only or other our out over own same she should
    so some such than that the their them then there these they this those through thus to too under until
    up very was we were what when where which while who whom why will with would you your yes therefore
    hence since given one two three first second also whereas whether etc eg ie
    question questions asks asked asking answer answers answered correct incorrect right wrong option options
    choice choices choose chose chosen select selected statement statements following true false best likely
    most least final explanation explain explains correctly letter none above""".split()
)
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def verify_answer(parsed: ParsedAnswer, gold: int, allow_changed: bool = False) -> tuple[str, str] | None:
    """``None`` when ``parsed`` is the gold option, else ``(reason, detail)``: ``ambiguous_answer``,
    ``unparseable_answer``, ``answer_mismatch`` or (unless ``allow_changed``) ``changed_answer``."""
    gold_label = OPTION_LABELS[gold]
    if parsed.how == "ambiguous":
        return "ambiguous_answer", f"concludes on '{parsed.detail}'; gold {gold_label}"
    if parsed.index is None:
        return "unparseable_answer", f"{parsed.how}: {parsed.detail}"
    if parsed.index != gold:
        return "answer_mismatch", f"answered {parsed.label} ({parsed.how}); gold {gold_label}"
    if not allow_changed and parsed.changed:
        seen = ",".join(OPTION_LABELS[i] for i in parsed.conclusions)
        return "changed_answer", f"concluded on {seen}; gold {gold_label}"
    return None


_HEADING = re.compile(r"^[\W_]*(?:final\s+answer|answer|conclusion|respuesta|réponse|antwort)[\W_]*$", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_BARE = re.compile(r"^[\W_]*(?:option\s+|choice\s+)?[\(\[]?[A-Za-z][\)\]]?[\W_]*", re.I)


def conclusion_only(piece: str, n_options: int, options: list[str] | None = None) -> bool:
    """Whether ``piece`` (a line or a sentence) only states the answer: "Final answer: B", "**B**",
    "B) Pneumonia", "Therefore, the correct answer is B. Pneumonia." (at most 8 words besides the option's
    own text), not "Hence the answer is B, because of the consolidation on the film"."""
    piece = normalise(piece).strip()
    if not piece or _HEADING.match(piece):
        return bool(piece)
    parsed = parse_answer(piece, n_options, options)
    if parsed.how == "last_line":
        rest = fold(_BARE.sub("", piece, count=1))
        return rest == "" or bool(options) and rest == fold(options[parsed.index] or "")  # type: ignore[index]
    if parsed.how not in ("final", "answer", "ambiguous", "reverse"):
        return False
    words = len(piece.split())
    if parsed.index is not None and options:
        words -= len((options[parsed.index] or "").split())
    return words <= 8


def strip_conclusion(text: str, n_options: int, options: list[str] | None = None) -> str:
    """``text`` without the model's conclusion: its closing lines that only state the answer ("Final
    answer: B", "**B**", "The correct answer is B. Pneumonia."), a closing sentence that only states it,
    and "Final answer" lines anywhere. What is left is the reasoning; ``to_chat`` appends the one
    canonical answer line."""
    lines = [
        ln for ln in text.strip().split("\n")
        if not (parse_answer(ln, n_options, options).how == "final" and conclusion_only(ln, n_options, options))
    ]  # fmt: skip
    while lines and (not lines[-1].strip() or conclusion_only(lines[-1], n_options, options)):
        lines.pop()
    if lines:  # the closing sentence(s) of the last line ("... fits. The correct answer is B. Pneumonia.")
        parts = _SENTENCE_END.split(lines[-1].rstrip())
        tails = [
            k
            for k in range(1, min(3, len(parts) - 1) + 1)
            if conclusion_only(" ".join(parts[-k:]), n_options, options)
        ]
        if tails:
            lines[-1] = " ".join(parts[: -max(tails)]).rstrip()
    return "\n".join(lines).strip()


def option_mismatch(explanation: str, options: list[str]) -> str | None:
    """Why the explanation's option letters disagree with the row's options, or ``None``: a letter beyond
    the last option ("E." in a four-option question), or a letter given another option's text."""
    text = normalise(explanation)
    n = len(options)
    mentions = option_mentions(text)
    for letter, said in mentions:
        index = label_index(letter)
        if index >= n:
            if option_by_text(said, options)[0] is not None or len(mentions) > 1:
                return f"names option {letter}; the question has {n} ({OPTION_LABELS[n - 1]} is the last)"
            continue
        named, _ = option_by_text(said, options)
        if named is not None and named != index and fold(options[named]) != fold(options[index]):
            return f"calls '{options[named][:60]}' option {letter}; it is option {OPTION_LABELS[named]}"
    return None


def content_words(text: str) -> set[str]:
    """Distinct lower-case words of 3+ letters that are not function words or question vocabulary."""
    return {w for w in (m.group(0).casefold() for m in _WORD.finditer(text)) if w not in STOPWORDS}


def reasoning_words(explanation: str, question: str, options: list[str], context: str | None = None) -> int:
    """How many distinct content words the explanation adds to the question, its context and options
    (crude stems: "fractures" and "fracture" are one word)."""
    given = {_stem(w) for w in content_words(" ".join([question or "", context or "", *options]))}
    return len({_stem(w) for w in content_words(explanation)} - given)


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ing", "ies", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def letter_skew(
    input_counts: dict[str, int], verified_counts: dict[str, int]
) -> tuple[float, float, str] | None:
    """How far the verified rows' gold letters are from the input's: ``(p_value, largest share gap,
    letter)`` by a chi-square goodness-of-fit test against the input's shares; ``None`` below 20 rows."""
    n = sum(verified_counts.values())
    total = sum(input_counts.values())
    letters = sorted(k for k, v in input_counts.items() if v)
    if n < 20 or total == 0 or len(letters) < 2:
        return None
    from scipy.stats import chisquare

    observed = [verified_counts.get(k, 0) for k in letters]
    expected = [input_counts[k] / total * n for k in letters]
    p_value = float(chisquare(observed, expected).pvalue)
    gaps = {k: verified_counts.get(k, 0) / n - input_counts[k] / total for k in letters}
    letter = max(gaps, key=lambda k: abs(gaps[k]))
    return p_value, gaps[letter], letter
