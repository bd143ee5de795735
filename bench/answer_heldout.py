"""Answer parsing on a held-out set of model conclusions (issue 22, item 4).

The sets (``bench/data/answer_forms/*.jsonl``) were written by someone who had not read the parser or its
tests: answers to four- and five-option medical questions, each labelled with the letter a careful reader takes
from it, or ``null`` when a careful reader would call it ambiguous or unanswered. ``dev.jsonl`` (60) was read
after its first measurement and became the development set; ``heldout.jsonl`` (80) was written after that. A case counts as read
when ``parse_answer`` returns exactly that letter, or returns no letter for a ``null`` case.

    python bench/answer_heldout.py [SET.jsonl] [--show-misses]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from factory.mcqa.answers import parse_answer

DEFAULT = Path(__file__).parent / "data" / "answer_forms" / "heldout.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args()
    cases = [json.loads(line) for line in args.path.read_text().splitlines() if line.strip()]
    tally: Counter[str] = Counter()
    misses = []
    for case in cases:
        letters = sorted(case["options"])
        parsed = parse_answer(case["response"], len(letters), [case["options"][k] for k in letters])
        kind = "refuse" if case["expected"] is None else "letter"
        tally[f"{kind}_total"] += 1
        if parsed.label == case["expected"]:
            tally[f"{kind}_read"] += 1
        else:
            misses.append((case["id"], case["expected"], parsed.label, parsed.how))
    read = tally["letter_read"] + tally["refuse_read"]
    print(
        f"{args.path.name}: {read}/{len(cases)} = {read / len(cases):.3f}  "
        f"(letters {tally['letter_read']}/{tally['letter_total']}, "
        f"refusals {tally['refuse_read']}/{tally['refuse_total']})"
    )
    if args.show_misses:
        for case_id, expected, got, how in misses:
            print(f"  {case_id}: expected {expected}, parsed {got} ({how})")


if __name__ == "__main__":
    main()
