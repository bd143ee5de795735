"""The regular expressions of ``factory.mcqa.answers``: the cues a conclusion opens with, what may sit
between a cue and its letter, and the shapes of letters, alternatives, negations and eliminations. The
forms that use them, and what each reads, are in ``factory.mcqa.answers``."""

from __future__ import annotations

import re

# Another letter set aside after the one chosen: "C rather than D", "C, not D", "C over B".
_ASIDE = (
    r"(?:[ \t]*,?[ \t]*(?i:rather\s+than|not|over|instead\s+of|and\s+not)[ \t]+(?:(?i:option|choice)[ \t]+)?"
    r"[\(\[]?[A-Za-z][\)\]]?(?![A-Za-z0-9'’]))?"
)
# An explicit final answer (English "final answer", or a label opening a line or a sentence: "... gout. Answer: C").
FINAL_CUE = re.compile(
    r"\bfinal\s+(?:answer|choice|response|option|selection|verdict|pick)\b"
    r"|\b(?:respuesta|réponse|reponse|resposta|risposta)\s+(?:final|finale|correcta|correcte|correta|corretta)\b"
    r"|\bendgültige\s+antwort\b|окончательный\s+ответ"
    r"|(?:^|(?<=[.!?]\s))[ \t>#*_\-•]*(?:answer|ans|final|respuesta|réponse|reponse|antwort|resposta|risposta|ответ|conclusion|choice|selection|selected|pick|verdict|correct|response)"
    r"\s*(?=[:：=\-–—>)→⇒])"
    r"|(?:正确)?答案\s*(?:[:：是为])?",
    re.I | re.M,
)
# An answer stated in a sentence ("not A but C", "the answer isn't A — it's B": the letter after the turn).
ANSWER_CUE = re.compile(
    r"\b(?:(?:correct|best|right|true|most\s+(?:likely|appropriate|accurate|correct|probable|suitable)|"
    r"single\s+best|only\s+correct)\s+(?:answer|option|choice|response|statement|diagnosis|one)"
    r"(?:\s+(?:here|to\s+this\s+question|among\s+the\s+options))?"
    r"|(?:most\s+likely|probable|likely|final|working|correct)\s+diagnosis|(?m:^)[ \t>#*_\-•]*diagnosis\s*(?=[:：])"
    r"|(?<!final\s)answer(?:\s+(?:is|would\s+be|should\s+be|must\s+be|will\s+be|has\s+to\s+be)\b|\s*[:=])"
    r"|\bi\s*(?:'d|'ll|\s+would|\s+will|\s+am\s+going\s+to|\s+shall)?\s+(?:choose|select|pick|go\s+with|go\s+for|opt\s+for|mark|say|settle\s+on|stick\s+with|land\s+on|commit\s+to)"
    r"|\bi(?:'m|\s+am)\s+(?:going\s+with|going\s+for|choosing|picking|selecting|opting\s+for|"
    r"going\s+to\s+(?:say|choose|pick|select|go\s+with|go\s+for)|sticking\s+with|settling\s+on)"
    r"|(?:^|(?<=[.!?]\s))going\s+with|\b(?:not|isn't|is\s+not)\s+(?:option\s+)?[A-Z]\s*[,;:—–-]?\s*"
    r"(?:but(?:\s+rather)?|(?:but\s+)?(?:it(?:'s|\s+is)|rather))\b"
    r"|\bmy\s+(?:final\s+)?(?:answer|choice|pick|selection|vote|response)(?:\s+is|\s+would\s+be|\s*:)"
    r"|\bi\s+(?:think|believe)\s+(?:the\s+answer\s+is|it'?s|it\s+is)"
    r"|\bleav(?:es|ing)(?:\s+us)?(?:\s+with)?(?:\s+only)?|\bby\s+(?:(?:the\s+)?process\s+of\s+)?elimination\b"
    r"|(?<!\bif\s)(?<!whether\s)(?<!unless\s)\bthe\s+diagnosis\s+(?:is|would\s+be|must\s+be|has\s+to\s+be)\b"
    r"|\b(?:we\s+are|we're|i\s+am|i'm|you\s+are|you're)\s+left\s+with(?:\s+only)?"
    r"|\b(?:the\s+)?(?:only\s+)?(?:remaining|one\s+left|option\s+left|one\s+remaining)\s+(?:option\s+|choice\s+)?is"
    r"|\b(?:la\s+)?(?:respuesta|opción|opcion)\s+(?:correcta\s+)?es"
    r"|\b(?:la\s+)?(?:bonne\s+)?réponse\s+(?:correcte\s+)?est|\bla\s+bonne\s+option\s+est"
    r"|\bdie\s+(?:richtige|korrekte)\s+antwort\s+ist|\bantwort\s+ist"
    r"|\ba\s+resposta\s+(?:correta\s+)?é|\bla\s+risposta\s+(?:corretta\s+)?è"
    r"|правильный\s+ответ\s*(?:[-—:]|это)?"
    r"|正确(?:的)?(?:答案|选项)(?:是|为)|答案(?:是|为)|选择?)",
    re.I,
)
# A closing connective ("So C.", "Therefore: nephrolithiasis"); its letter must close the sentence.
CONNECTIVE = re.compile(
    r"(?:^|(?<=[.!?;:,\-–—]\s)|(?<=[.!?;:,]))[ \t>#*_\-•]*"
    r"(?:(?:so|thus|hence|therefore|ergo|consequently|overall|in\s+conclusion|in\s+summary|but)\b[ \t]*[,:]?"
    r"(?:[ \t]+(?:it|this)(?:'s|\s+is|\s+must\s+be|\s+has\s+to\s+be|\s+can\s+only\s+be|\s+would\s+be|\s+should\s+be))?"
    r"|(?:it|this)(?:'s|\s+is|\s+must\s+be|\s+has\s+to\s+be|\s+can\s+only\s+be|\s+would\s+be|\s+should\s+be)\b)",
    re.I | re.M,
)
# What may sit between a cue and the letter: "is", ":", "therefore", "option", markdown...
LINK = re.compile(
    r"(?:\s|[:：=\-–—>→⇒*#\"“‘']|\b(?:is|are|would|should|must|will|be|then|therefore|thus|here|clearly|probably|"
    r"definitely|actually|really|indeed|in\s+fact|likely|most\s+likely|obviously|certainly|surely|still|"
    r"option|choice|letter|answer|it's|it|either|es|est|ist|la|el|le|l'option|opción|opcion|opção|opzione|"
    r"вариант|это)\b|选项)*",
    re.I,
)
# A letter right after a cue: "(b)", "[B]", "B" not followed by a letter, "b" closed by punctuation.
LETTER_AT = re.compile(
    r"[\(\[]\s*(?P<b>[A-Za-z])\s*[\)\]]|(?P<u>[A-Z])(?![A-Za-z0-9'’])|(?P<l>[a-z])(?=\s*(?:[).:,;!\"”]|$))",
    re.M,
)
# After a connective's letter: the end of the sentence (and of the line), or a reason ("So C, because"), maybe
# after another letter set aside ("It's C rather than D.").
CLOSES = re.compile(_ASIDE + r"[ \t]*[.!)\]\"”’']*[ \t]*(?:$|(?<=[.!])[ \t]+(?=[A-Z(])|[,;:]?[ \t]*(?:because|since|as|given)\b)",
                    re.M)  # fmt: skip
# Another option named right after the first one: "B or C", "A, B", "A and D", "B/C", "B o C".
ALTERNATIVE = re.compile(
    r"\s*(?:,|/|&|\bor\b|\band\b|\bo\b|\bou\b|\boder\b|\by\b|\bet\b|\bund\b|或)\s*"
    r"(?:(?:possibly|perhaps|maybe|potentially)\s+)?(?:option\s+|choice\s+)?"
    r"(?:[\(\[]\s*[A-Za-z]\s*[\)\]]|[A-Z](?![A-Za-z0-9'’]))"
)
# A hedge after the letter, in the same sentence: "B, but C is also possible", "B (or perhaps C)".
HEDGE = re.compile(
    r"[^.\n]{0,40}?\b(?:but|though|although|or|unless)\b[^.\n]{0,24}?\b(?:option\s+)?[\(\[]?[A-Z][\)\]]?"
    r"(?![A-Za-z0-9'’])[^.\n]{0,24}?\b(?:also|possible|could|might|may|perhaps|maybe|too)\b"
    r"|\s*\(\s*or\s+(?:perhaps\s+|maybe\s+)?(?:option\s+)?[A-Z]\s*\)",
    re.I,
)
# An option's letter in brackets after its text: "pneumonia (B)", "pneumonia [option B]".
BRACKETED = re.compile(r"[\(\[]\s*(?:option\s+|choice\s+)?(?P<b>[A-Za-z])\s*[\)\]]", re.I)
# "B is correct", "Option (C) is the best answer", "B: Correct", "Option C (text) is correct", "B it is".
REVERSE = re.compile(
    r"(?:\b(?i:option|choice)\s+[\(\[]?(?P<o>[A-Za-z])[\)\]]?|[\(\[]?\b(?P<u>[A-Z])[\)\]]?)(?![A-Za-z0-9'’])"
    r"(?:\s*\((?P<said>[^()\n]{1,80})\)|,\s*(?P<said2>[^,\n]{1,80}?),|[.)]\s*[^\n]{0,80}?)?"
    r"(?:\s+(?i:is|would\s+be|must\s+be|should\s+be|seems(?:\s+to\s+be)?|appears(?:\s+to\s+be)?|looks)\s+(?:(?i:the|my)\s+)?|\s*[:\-–—]\s*)"
    r"(?:(?i:correct|right|best|(?:most|more)\s+(?:appropriate|likely|consistent|plausible|probable)|answer)\b(?!\s+(?i:in|if|only|but|that|to)\b)"
    r"|(?i:one)(?=\s*[.!]*\s*$))"
    r"|(?:\b(?i:option|choice)\s+)?\b(?P<u2>[A-Z])\s+it\s+is\s*[.!]?\s*$"
    r"|(?:\b(?i:option|choice)\s+)?\b(?P<u3>[A-Z])\s+(?i:fits|matches)\s+(?i:best|better)\b"
    r"|(?:^|(?<=[.!?]\s))(?P<u4>[a-z])\s+is\s+(?:the\s+|my\s+)?(?:correct|right|best|answer)\b",
    re.M,
)
# Words before a cue that make it no conclusion: "the incorrect answer is A", "not the correct answer".
NEGATED = re.compile(
    r"\b(?:incorrect|not|wrong|false|isn't|least)[ \t]+(?:the[ \t]+|a[ \t]+)?(?:\w+[ \t]+)?$", re.I
)
# A sentence that says an option is not the answer.
NOT_IT = re.compile(
    r"\b(?:not|no|unlikely|wrong|incorrect|ruled?\s+out|excluded?|less\s+likely|rather\s+than|instead\s+of|"
    r"isn't|doesn't|cannot|can't)\b",
    re.I,
)
# Options ruled out: "not A, not B", "rule out A, B and C", "eliminating A and D" / "A, B and D are wrong".
_L = r"(?:option\s+)?[\(\[]?[A-Za-z][\)\]]?(?![A-Za-z0-9'’])"
_LIST = rf"(?P<list>{_L}(?:\s*(?:,\s*and|,\s*or|,\s*nor|,\s*not|,|and\s+not|and|or|nor|&|/)\s*{_L})*)"
RULED_OUT_BEFORE = re.compile(
    rf"\b(?i:not|rule\s+out|ruling\s+out|ruled\s+out|eliminate|eliminating|eliminated|exclude|excluding|"
    rf"excluded|discard|discarding|cross\s+out|crossing\s+out)\s+(?:(?i:options?|choices?)\s+)?{_LIST}"
    r"(?=\s*(?:[,.;:!?)]|\band\b|\bor\b|\bnor\b|$))",
    re.M,
)
RULED_OUT_AFTER = re.compile(
    rf"(?:\b(?i:options?|choices?)\s+|(?:^|(?<=[.!?;:,(]))[ \t]*){_LIST}\s+"
    r"(?i:is|are|was|were|can\s+be|could\s+be|should\s+be|must\s+be)\s+(?i:all\s+|both\s+|clearly\s+|definitely\s+)?"
    r"(?i:wrong|incorrect|ruled\s+out|excluded|eliminated|out|unlikely|false|not\s+(?:correct|right|it|the\s+answer))\b",
    re.M,
)
# Every option but one ruled out in one phrase: "every choice other than D contains an error", "all but B
# are wrong", "all of the options except C are incorrect".
ALL_BUT = re.compile(
    r"\b(?:every|all|each)(?:\s+of)?(?:\s+the)?(?:\s+other)?(?:\s+(?:options?|choices?|answers?|statements?|ones?))?"
    r"\s+(?:other\s+than|except(?:\s+for)?|but|apart\s+from|besides)\s+(?:(?:option|choice)\s+)?"
    r"(?:[\(\[]\s*(?P<b>[A-Za-z])\s*[\)\]]|(?P<u>(?-i:[A-Z])))(?![A-Za-z0-9'’])\s*,?\s*"
    r"(?:is|are|was|were|contains?|has|have|can\s+be|should\s+be)\s+(?:all\s+|clearly\s+)?"
    r"(?:wrong|incorrect|false|untrue|flawed|ruled\s+out|excluded|eliminated|an?\s+(?:\w+\s+)?(?:error|mistake|flaw)|(?:(?!no\b|not\b)\w+\s+)?(?:errors|mistakes))\b",
    re.I,
)
LIST_LETTER = re.compile(r"(?<![A-Za-z])([A-Za-z])(?![A-Za-z0-9'’])")
# A self-correction between two final answers: "wait", "actually", "on second thought".
CORRECTION = re.compile(
    r"\b(?:wait|actually|correction|on\s+second\s+thought|on\s+reflection|re-?reading|scratch\s+that|"
    r"i\s+was\s+wrong|mistake|revis\w*|reconsider\w*|instead)\b",
    re.I,
)
# A closing letter line: "**B**", "B.", "(B)", "B) Pneumonia", "C, nephrolithiasis", "C rather than D.".
LAST_LINE = re.compile(
    r"^[\W_]*?(?:(?:definitely|probably|most\s+likely|likely|clearly|surely|certainly)\s+)?(?:option\s+|choice\s+)?"
    r"[\(\[]?(?P<u>[A-Za-z])[\)\]]?(?:,?\s*(?:definitely|for\s+sure|surely|certainly|clearly)\b)?" + _ASIDE
    + r"(?:\s*(?:[.):,\-–—(])\s*(?P<rest>.*))?[\W_]*$",
    re.I,
)
# What may open a closing sentence that is only an option's text: "So", "Therefore:", "It has to be", quotes.
OPENING = re.compile(
    r"^(?:(?:so|thus|hence|therefore|then|ergo|overall|clearly|finally|in\s+conclusion|in\s+summary)\b[ \t]*[,:]?[ \t]*)*"
    r"(?:(?:it|this)(?:'s|\s+is|\s+must\s+be|\s+has\s+to\s+be|\s+can\s+only\s+be|\s+would\s+be|\s+should\s+be)\s+|"
    r"(?:i(?:'m|\s+am)\s+)?going\s+with\s+)?",
    re.I,
)
# What may close a sentence that is only an option's text: "is the answer", "is the most likely diagnosis".
CLOSING_TAIL = re.compile(
    r"\s+(?:is|would\s+be|seems\s+to\s+be|must\s+be)\s+(?:the\s+|my\s+)?"
    r"(?:(?:correct|right|best|most\s+likely|likely|final)(?:\s+(?:answer|option|choice|diagnosis|one))?"
    r"|answer|option|choice|diagnosis)\W*$",
    re.I,
)
QUOTED = re.compile(r"[\"“‘']([^\"“”‘’'\n]{2,80})[\"”’']")
# The end of a sentence (not after a lone option letter: "B. Pneumonia" is one sentence; but after a letter
# closing a list it is: "... rules out A and B. Ampicillin ...").
SENTENCE_END = re.compile(
    r"(?:(?<![\s(\[][A-Za-z][.!?])(?<!^[A-Za-z][.!?])|(?<=\band [A-Za-z][.!?])|(?<=\bor [A-Za-z][.!?])"
    r"|(?<=, [A-Za-z][.!?]))(?<=[.!?])\s+",
    re.M,
)
# The start of a line naming an option: "B.", "(C)", "D)".
OPTION_START = re.compile(r"[ \t]*[*_>\-•]*[ \t]*[\(\[]?(?P<letter>[A-Za-z])[\)\]]?[ \t]*[.):]")
NONE_OF = re.compile(r"^(?:none\s+of\s+(?:the\s+)?(?:above|these|them|options|choices))\b", re.I)
BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text\s*\{)?\s*([^{}]*?)\s*\}?\s*\}")
MARKDOWN = re.compile(r"\*\*|__|`|\$")

# A JSON answer: {"answer": "C", ...}, "final_answer", "choice", "correct_option".
JSON_ANSWER = re.compile(
    r"[\"'](?:final[_ ]?answer|answer|correct[_ ]?answer|answer[_ ]?letter|choice|final[_ ]?choice|"
    r"option|correct[_ ]?option|selected[_ ]?option|selection)[\"']\s*:\s*[\"']?",
    re.I,
)
# A letter referred to at the end of a sentence: "which corresponds to choice A", "That's option B.", "I'm
# confident in C.", "The exception is E.", "..., choice A." (the letter must close its sentence).
_REF_LETTER = r"(?:(?:option|choice|letter)\s+)?[\(\[]?[A-Za-z][\)\]]?\s*(?:[.!,;]|$)"  # a letter alone
LETTER_REF = re.compile(
    r"\bcorrespond(?:s|ing)?\s+(?:to|with)|\b(?:which|that)\s+(?:matches|is)"
    r"|\b(?:fits|matches|points\s+(?:to|towards?)|favou?rs|supports|suggests|indicates)"
    r"|\bi(?:'m|\s+am)\s+(?:fairly\s+|quite\s+|very\s+|most\s+)?(?:confident|sure|certain)\s+"
    r"(?:in|of|about|(?:that\s+)?it(?:'s|\s+is))"
    r"|(?:^|(?<=[.!?:;,—]\s))that(?:'s|\s+is|\s+would\s+be|\s+makes\s+it|\s+points\s+to|\s+gives)"
    rf"|(?:^|(?<=[.!?]\s))the\s+(?:[a-z-]+\s+){{0,4}}?(?:is|would\s+be|must\s+be)(?=\s+{_REF_LETTER})"
    rf"|(?:^|(?<=[.!?]\s))(?:select|choose|pick|mark|circle)(?=\s+{_REF_LETTER})"
    r"|(?<=\w)\s*[,;–—]\s*(?=(?:option|choice|letter|answer)\s+[\(\[]?[A-Za-z][\)\]]?\s*[.!]?\s*$)",
    re.I | re.M,
)
# A letter closing the last sentence after a copula or a mark: "... for a thunderclap headache is B.",
# "... fits best: B.", "-> de Quervain thyroiditis, (d).", "... the odd one out: C."
CLOSING_REF = re.compile(
    r"(?P<link>\b(?:is|it's)|[:,;=→⇒]|->|[—–]|\s-)\s*(?:(?i:option|choice|letter)\s+)?"
    r"(?P<letter>[\(\[]\s*(?P<b>[A-Za-z])\s*[\)\]]|(?P<u>[A-Z])(?![A-Za-z0-9'’]))[ \t]*[.!]?[ \t*_\"”')]*$"
)
CLAUSE_BREAK = re.compile(r"[,;:—–]")
# A lone letter closing a stretch of text ("A, B"): the start of a list, not a conclusion.
ENDS_ON_LETTER = re.compile(r"(?<![A-Za-z0-9'’])[\(\[]?[A-Za-z][\)\]]?\s*(?:and|or)?\s*$")
# An option named by its place: "is the second option listed", "I'd pick the third one", a sentence that is
# only the place: "The first option, then."
ORDINAL = re.compile(
    r"(?:(?:\b(?:is|be|choose|chose|select|pick|with|for|prefer|leaves|leaving|to|fits)\s+|[:=]\s*)|"
    r"(?=the\s+\w+\s+(?:option|choice|one)\s+(?:listed\s+)?(?:is|seems|would\s+be)\s+(?:the\s+)?"
    r"(?:correct|right|best|answer)\b)"
    r"|(?:(?m:^)|(?<=[.!?]\s))(?=the\s+\w+\s+(?:option|choice|one)(?:\s+(?:listed|given))?\s*,?\s*"
    r"(?:then|it\s+is|for\s+me)?\s*[.!]?\s*(?:(?m:$))))the\s+"
    r"(?P<ord>first|second|third|fourth|fifth|last|1st|2nd|3rd|4th|5th)\s+(?:option|choice|answer|alternative|one)"
    r"(?:\s+(?:listed|given|offered|here|above|on\s+the\s+list))?\b",
    re.I,
)
ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "1st": 0, "2nd": 1, "3rd": 2, "4th": 3, "5th": 4}
# A first thought the text later revises: "I first thought A", "My first instinct was A".
FIRST_THOUGHT = re.compile(
    r"\bi\s+(?:first|initially|originally|at\s+first)\s+(?:thought|considered|chose|picked|said|answered|"
    r"went\s+with|leaned\s+towards?|suspected)"
    r"|\bmy\s+(?:first|initial|original)\s+(?:instinct|thought|impression|guess|answer|choice|pick)\s+(?:was|is)",
    re.I,
)
# A text that opens with its letter, then explains: "B. In adults, ...", "**C** - because ...".
OPENING_LETTER = re.compile(
    r"\A[\s>#*_\-•]*(?:(?i:option|choice|answer)\s+)?[\(\[]?(?P<u>[A-Z])[\)\]]?"
    r"(?:[ \t]*[:)\-–—][ \t]+|\.[ \t]+(?=[A-Z0-9(\"“'])|[ \t]*\n)"  # "C. difficile" is no label
    r"(?P<rest>[^\n]*)"
)
# A label opening a line or a sentence ("A: ...", "(B) ..."): an option-by-option walk, not a conclusion.
LABEL_OPENS = re.compile(r"(?:^|(?<=[.!?]\s))[ \t>*_\-•]*[\(\[]?(?P<u>[A-Z])[\)\]]?[.:)][ \t]", re.M)
# Words of an option's text, or of a sentence, hyphenated compounds whole.
WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
# A bracketed alias inside an option's text: "Yellow-green vision (xanthopsia)".
ALIAS = re.compile(r"\(([^()]{2,40})\)")
# Where a sentence's premises end and its conclusion begins: "No thiazide is offered, so ...".
THEREFORE = re.compile(r"\b(?:so|therefore|thus|hence|consequently|which\s+is\s+why)\b", re.I)
# A sentence that does not commit to an option (for an option named by its text alone).
HEDGED = re.compile(
    r"\b(?:might|may|could|possibly|perhaps|maybe|unsure|not\s+sure|uncertain|unclear|either|whether|if|"
    r"can'?t\s+(?:tell|decide|choose|say)|cannot\s+(?:tell|decide|choose|say|determine)|depends?|possible)\b|\?",
    re.I,
)
# A sentence that rejects what it names.
REJECTS = re.compile(
    r"\b(?:not|no|never|unlikely|wrong|incorrect|ruled?\s+out|excluded?|less\s+likely|rather\s+than|"
    r"instead\s+of|isn't|doesn't|don't|cannot|can't|avoid(?:ed)?|contraindicated|neither|nor|obsolete)\b",
    re.I,
)
# A letter named in a sentence: "(B)", "[option C]", "choice D".
MENTIONED_LETTER = re.compile(
    r"[\(\[]\s*(?:(?i:option|choice)\s+)?(?P<b>[A-Za-z])\s*[\)\]]|\b(?i:option|choice|letter)\s+(?P<o>[A-Z])\b"
)
# An option set aside after the one chosen: "isoniazid (A), not rifampin", "rather than scarlet fever".
SET_ASIDE = re.compile(r"(?:,\s*(?:and\s+)?not|\brather\s+than|\binstead\s+of|\bover)\s+[^,.;:]*", re.I)
# A sentence that draws a conclusion (for an option named by its text alone): a connective, a verdict word,
# a decision in the first person.
CONCLUDES = re.compile(
    r"\b(?:so|therefore|thus|hence|consequently|overall|most|best|likely|probable|classic(?:al|ally)?|"
    r"typical(?:ly)?|usual(?:ly)?|common(?:ly)?|leading|first[- ]line|choice|pick|correct|right|answer|"
    r"diagnosis|culprit|responsible|caused?|explains?|fits?|consistent|indicated|recommended|treatment|"
    r"management|next\s+step|confirm\w*|i(?:'d|\s+would|'ll|\s+will)|should|points?\s+to|suggests?|"
    r"indicates?|choose|select|prefer|favou?r|opt|next|order|results?\s+from|due\s+to|lack\s+of|requires?|"
    r"treated\s+with|treat\s+with)\b",
    re.I,
)
# A copula or a colon right before an option's text ("the organism is Pseudomonas aeruginosa", "...:
# Kawasaki disease"): a conclusion too.
COPULA = re.compile(r"(?:\b(?:is|are|was|would\s+be|must\s+be)\s+|:\s*)(?:an?\s+|the\s+)?", re.I)
# A sentence that only sets out what to think about: "Let me consider pneumonia".
SETS_OUT = re.compile(r"^\W*(?:let(?:'s|\s+me|\s+us)|consider|considering|first,|we\s+need\s+to)\b", re.I)
# A later sentence that keeps another option open: "However, C could also be correct."
ALSO_POSSIBLE = re.compile(
    r"\b(?:option\s+)?[\(\[]?(?P<u>[A-Z])[\)\]]?(?![A-Za-z0-9'’])[^.\n]{0,40}?"
    r"\b(?:also|equally|too|could|might|may)\b[^.\n]{0,30}?"
    r"\b(?:possible|correct|right|reasonable|acceptable|defensible|valid|be\s+the\s+answer)\b"
)
SENTENCE_BREAK = re.compile(r"[.!?]+\s+")
# A closing sentence that takes every conclusion back: "Actually I don't know."
UNSURE = re.compile(
    r"\b(?:i\s+(?:don'?t|do\s+not)\s+know|not\s+(?:sure|certain)|unsure|uncertain|no\s+idea|hard\s+to\s+say|"
    r"(?:can'?t|cannot)\s+(?:decide|tell|be\s+sure|choose))\b",
    re.I,
)
