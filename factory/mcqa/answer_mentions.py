"""Which options a sentence names by their text, matched the way people shorten them.

In: a sentence and the question's option texts. Out: ``option_by_text(said, options)``, the option whose
whole text ``said`` starts with; ``only_option(said, options)``, the one option whose whole text ``said`` is;
``mentioned(sentence, options)``, the options the sentence names, shortened or not; and
``concluded_option(sentence, options, labels)``, the one option a closing sentence concludes on (``None``
when it names none, several, negates or hedges). ``factory.mcqa.answers`` uses them for conclusions that
state an option's text without its letter ("... so I would give IV calcium gluconate.").

A sentence names an option when a run of its words matches a run of the option's words (case and
punctuation folded; a word may be a 4+ letter prefix of the other: "strep" / "Streptococcus"), the run
covers at least half of the option's content words ("troponin I" names "Cardiac troponin I", "penicillin"
names "Penicillin after desensitization"), holds a telling word (6+ letters, not a general one like
"syndrome": "fever" alone does not name "Scarlet fever") and no other option has that same run ("IV" alone names none of
"IV insulin", "IV furosemide"); or when a word is the option's acronym ("RSV" for "Respiratory syncytial
virus") or a bracketed alias in the option ("xanthopsia" for "Yellow-green vision (xanthopsia)").
"""

from __future__ import annotations

from factory.mcqa import answer_patterns as P
from factory.mcqa.options import fold, label_index

# Words that carry no meaning of their own in an option's text.
# Words too general to name an option alone when the option's text is longer ("fever": "Scarlet fever").
_GENERIC = frozenset(
    """disease syndrome disorder deficiency infection virus vaccine therapy treatment level count ratio
    blocker failure injury cancer carcinoma tumour tumor chronic primary secondary vision artery muscle
    serum plasma intravenous intramuscular increase decrease continue repeat surgery history""".split()
)
_STOP = frozenset(
    "a an the of and or with without in on to for by at from as into plus than then via per type due".split()
)


def option_by_text(said: str, options: list[str] | None) -> tuple[int | None, int]:
    """The option whose text ``said`` starts with (the longest when several do) and its folded length."""
    said = fold(said)
    best, best_len = None, 0
    for i, option in enumerate(options or []):
        folded = fold(option or "")
        if folded and (said == folded or said.startswith(folded + " ")) and len(folded) > best_len:
            best, best_len = i, len(folded)
    return best, best_len


def only_option(said: str, options: list[str] | None) -> int | None:
    """The one option whose whole text ``said`` is (folded); ``None`` when none or several are."""
    said = fold(said)
    same = [i for i, o in enumerate(options or []) if said and fold(o or "") == said]
    return same[0] if len({fold(options[i]) for i in same}) == 1 else None  # type: ignore[index]


def same_text(options: list[str] | None, i: int, j: int) -> bool:
    """Options ``i`` and ``j`` have the same (folded) text."""
    if not options or max(i, j) >= len(options):
        return False
    return fold(options[i] or "") == fold(options[j] or "")


def _words(text: str) -> list[str]:
    """Folded words, a hyphenated compound kept whole ("pneumonia-like" is not "pneumonia")."""
    return P.WORD.findall(text.casefold())


def _same(said: str, own: str) -> bool:
    if said == own:
        return True
    short, long_ = sorted((said, own), key=len)
    return len(short) >= 4 and long_.startswith(short) and long_[len(short)].isalpha()


def _runs(said: list[str], own: list[str]) -> list[tuple[str, ...]]:
    """Every maximal run of ``said`` that matches a contiguous run of ``own``, as ``own``'s words."""
    found = []
    for i in range(len(said)):
        for j in range(len(own)):
            k = 0
            while i + k < len(said) and j + k < len(own) and _same(said[i + k], own[j + k]):
                k += 1
            if k and (i == 0 or j == 0 or not _same(said[i - 1], own[j - 1])):
                found.append(tuple(own[j : j + k]))
    return found


def _has_run(run: tuple[str, ...], own: list[str]) -> bool:
    starts = range(len(own) - len(run) + 1)
    return any(all(_same(a, b) for a, b in zip(run, own[j : j + len(run)], strict=True)) for j in starts)


def _content(words: list[str] | tuple[str, ...]) -> list[str]:
    return [w for w in words if w not in _STOP and len(w) > 1]


def _aliases(option: str) -> set[str]:
    """The acronym of an option's words ("rsv") and its bracketed parts ("xanthopsia")."""
    out = {fold(m) for m in P.ALIAS.findall(option)}
    bare = fold(P.ALIAS.sub(" ", option)).split()
    initials = "".join(w[0] for w in bare if w not in _STOP)
    if len(initials) >= 3:
        out.add(initials)
    return {a for a in out if len(a) >= 3}


def mentioned(sentence: str, options: list[str] | None) -> set[int]:
    """The options ``sentence`` names by their text (see the module docstring)."""
    said = _words(sentence)
    folded = fold(sentence).split()
    words = [_words(o or "") for o in options or []]
    found = set()
    for i, own in enumerate(words):
        if own and _has_run(tuple(own), said):  # the whole text, however short ("Type 2")
            found.add(i)
            continue
        if not _content(own):
            continue
        if any(a in folded or a in " ".join(folded) and " " in a for a in _aliases(options[i])):  # type: ignore[index]
            found.add(i)
            continue
        for run in _runs(said, own):
            covered = len(_content(run)) * 2 >= len(_content(own))
            alone = not any(_has_run(run, other) for j, other in enumerate(words) if j != i)
            telling = len(run) == len(own) or any(len(w) >= 6 and w not in _GENERIC for w in _content(run))
            if _content(run) and covered and alone and telling:
                found.add(i)
                break
    return found


def walks_options(text: str) -> bool:
    """The text walks through the options, a label opening each ("A: ...", "B. ..."): no closing claim."""
    return len({x.upper() for x in P.LABEL_OPENS.findall(text)}) > 1


def hedges(text: str) -> bool:
    """The text does not commit: "might", "possibly", "not sure", "either", a question."""
    return bool(P.HEDGED.search(text) or P.UNSURE.search(text))


def describes_options(text: str, options: list[str] | None) -> bool:
    """Several sentences each open with a different option's whole text and reject nothing ("Ceftriaxone
    covers pneumococci. Vancomycin alone covers MRSA."): a walk through the options, no closing claim."""
    sentences = P.SENTENCE_END.split(text)
    opened = {option_by_text(s, options)[0] for s in sentences if not P.REJECTS.search(s)}
    return len(opened - {None}) > 1


def concluded_option(
    sentence: str, options: list[str] | None, n_options: int, subject: bool = True
) -> int | None:
    """The one option a closing sentence concludes on by its text: the sentence names exactly one option,
    in its conclusion (after "so", "therefore" when it has one), which neither negates nor hedges, no
    letter but that option's, and it draws a conclusion (``CONCLUDES``, a copula before the text, or the
    option's whole text as its subject: "Ampicillin plus gentamicin covers all three.") ("No thiazide is
    offered, so the best agent is amlodipine (option C)").
    ``n_options``: how many options the question has (a letter past them is no option's); ``subject``:
    whether an option's text as the subject concludes (not in a walk through the options)."""
    sentence = P.SET_ASIDE.sub(" ", sentence)  # "isoniazid (A), not rifampin": the set-aside one is no claim
    letters = {label_index(m.group("b") or m.group("o")) for m in P.MENTIONED_LETTER.finditer(sentence)}
    letters = {i if i < n_options else -1 for i in letters}
    cut = [m.end() for m in P.THEREFORE.finditer(sentence)]
    conclusion = sentence[cut[-1] :] if cut else sentence
    if P.HEDGED.search(sentence) or P.REJECTS.search(conclusion) or len(letters) > 1:
        return None
    named = mentioned(P.MENTIONED_LETTER.sub(" ", sentence), options)
    if len(named) != 1 or mentioned(P.MENTIONED_LETTER.sub(" ", conclusion), options) != named:
        return None
    if (letters and letters != named) or P.SETS_OUT.match(sentence):
        return None
    after_copula = (mentioned(sentence[m.end() : m.end() + 80], options) for m in P.COPULA.finditer(sentence))
    opens = subject and option_by_text(sentence, options)[0] in named  # the option's whole text is the subject
    concludes = opens or P.CONCLUDES.search(sentence) or any(named <= found for found in after_copula)
    return named.pop() if concludes else None
