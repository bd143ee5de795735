"""Adapters for open questions with a reference answer (kind ``qa``): MedQuAD, LiveQA, MedicationQA,
MEDIQA-2019 QA, OpenMedQA, Alpaca-style instruction data, AlpacaEval outputs and MedSafetyBench.

A record whose answer is present but empty is a drop (``empty_answer``): the source ships it that way
(MedQuAD's MedlinePlus subsets, empty model outputs); a missing key is bad input.
"""

from __future__ import annotations

import re

from factory.sources.adapters.base import Adapter, BadRecord, Context, Record, join, rest, text
from factory.sources.columnar import ColumnMap
from factory.stage import drop

MEDQUAD_NO_ANSWER = ("10_MPlus_ADAM_QA", "11_MPlusDrugs_QA", "12_MPlusHerbsSupplements_QA")


def _empty_answer(row: Record, why: str = "the answer is empty") -> Record:
    return drop(row, "empty_answer", why) if row.get("answer") is None else row


def medquad(rec: Record, ctx: Context) -> Record:
    subset, native = text(rec, "subset"), rec.get("id")
    row = {
        "id": f"{subset}:{native}" if subset and native is not None else native,
        "question": text(rec, "question", required=True),
        "answer": text(rec, "answer", required=True),
        "subject": text(rec, "source"),
        "meta": rest(rec, "id", "question", "answer", "source"),
    }
    why = "MedlinePlus answers were removed upstream for copyright" if subset in MEDQUAD_NO_ANSWER else None
    return _empty_answer(row, why or "the answer is empty")


def liveqa(rec: Record, ctx: Context) -> Record:
    refs = rec.get("reference_answers")
    if not isinstance(refs, list) or not all(isinstance(a, dict) for a in refs):
        raise BadRecord("reference_answers", "expected a list of {answer, url, comment}")
    answers = [text(a, "answer") for a in refs]
    row = {
        "id": rec.get("qid"),
        "question": text(rec, "message", required=True),
        "answer": join(answers),
        "meta": rest(
            rec, "qid", "message", "reference_answers",
            references=[{k: v for k, v in a.items() if k != "answer"} for a in refs],
        ),
    }  # fmt: skip
    return _empty_answer(row, "no reference answer")


def medicationqa(rec: Record, ctx: Context) -> Record:
    row = {
        "question": text(rec, "Question", required=True),
        "answer": text(rec, "Answer", required=True),
        "subject": text(rec, "Question Type"),
        "meta": rest(rec, "Question", "Answer", "Question Type"),
    }
    return _empty_answer(row)


def mediqa_qa(rec: Record, ctx: Context) -> Record:
    """The question with its best-ranked answer; dropped when even that one was judged incorrect (score < 3)."""
    answers = rec.get("answers")
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        raise BadRecord("answers", "expected a list of ranked answers")
    ranked = []
    for i, a in enumerate(answers):
        try:
            ranked.append((int(a["reference_rank"]), int(a["reference_score"]), i))
        except (KeyError, TypeError, ValueError):
            raise BadRecord(f"answers[{i}]", "reference_rank and reference_score must be integers") from None
    best = answers[min(ranked)[2]] if ranked else {}
    score = min(ranked)[1] if ranked else None
    row = {
        "id": rec.get("qid"),
        "question": text(rec, "question", required=True),
        "answer": text(best, "text"),
        "meta": rest(
            rec, "qid", "question", "answers",
            best_answer={k: v for k, v in best.items() if k != "text"} or None, n_answers=len(answers),
        ),
    }  # fmt: skip
    if row["answer"] is not None and score is not None and score < 3:
        return drop(
            row, "no_correct_answer", f"the best-ranked answer has ReferenceScore {score} (< 3: not correct)"
        )
    return _empty_answer(row, "no answer text")


def openmedqa(rec: Record, ctx: Context) -> Record:
    row = {
        "id": rec.get("id") or rec.get("_key"),
        "question": text(rec, "question", required=True),
        "answer": text(rec, "correct_answer", required=True),
        "meta": rest(rec, "id" if rec.get("id") else "_key", "question", "correct_answer"),
    }
    return _empty_answer(row)


def alpaca(rec: Record, ctx: Context) -> Record:
    row = {
        "id": rec.get("id"),
        "question": join([text(rec, "instruction", required=True), text(rec, "input")]),
        "answer": text(rec, "output", required=True),
        "meta": rest(rec, "id", "instruction", "input", "output"),
    }
    return _empty_answer(row)


def alpaca_eval(rec: Record, ctx: Context) -> Record:
    row = {
        "question": text(rec, "instruction", required=True),
        "answer": text(rec, "output", required=True),
        "subject": text(rec, "dataset"),
        "meta": rest(rec, "instruction", "output", "dataset"),
    }
    return _empty_answer(row, "the model output is empty")


_CATEGORY = re.compile(r"category_(\d+)$")


def medsafety_category(ctx: Context) -> str | None:
    """``category_N`` (the AMA medical-ethics principle N) from a MedSafetyBench file name."""
    match = _CATEGORY.search(ctx.stem)
    return f"category_{match.group(1)}" if match else None


def medsafetybench(rec: Record, ctx: Context) -> Record:
    generator = (
        ctx.file.parent.name if ctx.file is not None and ctx.file.parent.name in ("gpt4", "llama2") else None
    )
    row = {
        "question": text(rec, "harmful_medical_request", required=True),
        "answer": text(rec, "safe_response", required=True),
        "subject": text(rec, "category") or medsafety_category(ctx),
        "meta": rest(rec, "", "harmful_medical_request", "safe_response", "category", generator=generator),
    }
    return _empty_answer(row)


def _qa_columns(
    question: tuple[str, ...], answer: str, empty_why: str = "the answer is empty", **kw
) -> ColumnMap:
    """The ``ColumnMap`` of a QA adapter above: ``question`` columns joined, ``answer``, an empty answer dropped."""
    return ColumnMap(
        texts={"question": question, "answer": (answer,)}, required=("question", "answer"),
        required_columns=(question[0], answer), empty=("answer", "empty_answer", empty_why), **kw,
    )  # fmt: skip


MEDQUAD_COLUMNS = _qa_columns(
    ("question",), "answer", id="id", id_with="subset", subject="source",
    used=("id", "question", "answer", "source"),
    why_by=("subset", MEDQUAD_NO_ANSWER, "MedlinePlus answers were removed upstream for copyright"),
)  # fmt: skip
ALPACA_COLUMNS = _qa_columns(
    ("instruction", "input"), "output", id="id", used=("id", "instruction", "input", "output")
)
ALPACA_EVAL_COLUMNS = _qa_columns(
    ("instruction",), "output", "the model output is empty", subject="dataset", used=("instruction", "output", "dataset")
)  # fmt: skip
MEDICATIONQA_COLUMNS = _qa_columns(
    ("Question",), "Answer", subject="Question Type", used=("Question", "Answer", "Question Type")
)

QA_ADAPTERS = [
    Adapter("medquad", "qa", "MedQuAD JSONL (question/answer, 12 NIH sources); empty answers dropped (empty_answer)", medquad,
            columns=lambda cfg: MEDQUAD_COLUMNS),
    Adapter("liveqa", "qa", "LiveQA TREC-2017 medical: consumer message + reference answers joined", liveqa),
    Adapter("medicationqa", "qa", "MedicationQA (Question/Answer, Question Type as subject)", medicationqa,
            columns=lambda cfg: MEDICATIONQA_COLUMNS),
    Adapter("mediqa_qa", "qa", "MEDIQA-2019 QA: question + its best-ranked answer (dropped when scored < 3: no_correct_answer)", mediqa_qa),
    Adapter("openmedqa", "qa", "OpenMedQA (HPAI): open-ended MedQA question + correct_answer", openmedqa),
    Adapter("alpaca", "qa", "Alpaca instruction/input/output (ChatDoctor 5k, LLaMA-Factory alpaca demo, Bianchi safety)", alpaca,
            columns=lambda cfg: ALPACA_COLUMNS),
    Adapter("alpaca_eval", "qa", "AlpacaEval model outputs: instruction/output, dataset as subject", alpaca_eval,
            columns=lambda cfg: ALPACA_EVAL_COLUMNS),
    Adapter("medsafetybench", "qa", "MedSafetyBench CSV: harmful_medical_request + safe_response, category from the file name", medsafetybench),
]  # fmt: skip
