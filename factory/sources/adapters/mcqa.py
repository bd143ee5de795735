"""Adapters for multiple-choice medical QA (kind ``mcqa``): MedAgentsBench, HPAI prompt_engine, MedMCQA,
PubMedQA, CareQA (Hub), HEAD-QA and MMLU CSVs. Options become ``options: list[str]`` (labels A, B, C... implied) and
the gold option ``answer_idx`` (0-based). Filler options ("n/a", empty) that are not the answer are removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from factory.mcqa.options import OPTION_LABELS, strip_labels
from factory.sources.adapters.base import (
    Adapter,
    BadRecord,
    Context,
    Record,
    answer_index,
    as_text,
    drop_placeholders,
    index_value,
    join,
    mcqa_fields,
    options_of,
    placeholder_text,
    rest,
    split_json_default,
    text,
    text_list,
)
from factory.stage import drop


def medagents(rec: Record, ctx: Context) -> Record:
    labels, texts = options_of(rec.get("options"), "options")
    idx = answer_index(rec.get("answer_idx"), labels, texts, "answer_idx")
    answer = text(rec, "answer")
    if answer is not None and answer.strip() != texts[idx].strip():
        raise BadRecord("answer", f"{answer!r} is not the text of option {labels[idx]} ({texts[idx]!r})")
    texts, idx, removed = drop_placeholders(texts, idx)
    used = ("realidx", "question", "options", "answer_idx", "answer", "reason", "answer_rationale")
    return {
        "id": rec.get("realidx"),
        "question": text(rec, "question", required=True),
        "options": texts,
        "answer_idx": idx,
        "explanation": placeholder_text(text(rec, "reason") or text(rec, "answer_rationale")),
        "subject": text(rec, "subject") or text(rec, "category"),
        "meta": rest(rec, *used, "subject", "category", filler_options_removed=removed or None),
    }


def hpai_mcqa(rec: Record, ctx: Context) -> Record:
    context = rec.get("context")
    context_text = (
        join(text_list(context, "context")) if isinstance(context, list) else as_text(context, "context")
    )
    native = rec.get("id") or rec.get("_key")
    fields = mcqa_fields(
        text(rec, "question", required=True),
        rec.get("options"),
        rec.get("correct_answer"),
        options_field="options",
        answer_field="correct_answer",
    )
    used = ["question", "options", "correct_answer", "context", "category"]
    used.append("id" if rec.get("id") else "_key")
    return {
        **fields,
        "id": native,
        "context": context_text,
        "subject": text(rec, "category"),
        "meta": rest(rec, *used),
    }


def medmcqa(rec: Record, ctx: Context) -> Record:
    if "choices" in rec:
        labels, texts = options_of(rec["choices"], "choices")
        idx = index_value(rec.get("answer"), len(texts), "answer")
        texts, idx, _ = drop_placeholders(strip_labels(texts), idx)
        return {
            "question": text(rec, "question", required=True),
            "options": texts,
            "answer_idx": idx,
            "meta": rest(rec, "question", "choices", "answer"),
        }
    if "opa" in rec:  # the Hugging Face layout (openlifescienceai/medmcqa): cop is 0-based there
        options = [rec.get(k) for k in ("opa", "opb", "opc", "opd")]
        fields = mcqa_fields(
            text(rec, "question", required=True), options, rec.get("cop"),
            options_field="opa", answer_field="cop", by_index=True,
        )  # fmt: skip
        used = ("id", "question", "opa", "opb", "opc", "opd", "cop", "exp", "subject_name")
        return {
            **fields,
            "id": rec.get("id"),
            "explanation": text(rec, "exp"),
            "subject": text(rec, "subject_name"),
            "meta": rest(rec, *used),
        }
    raise BadRecord(
        "choices", "missing (expected `choices` + `answer`, or the Hub layout `opa`..`opd` + `cop`)"
    )


PUBMEDQA_OPTIONS = ["yes", "no", "maybe"]


def pubmedqa(rec: Record, ctx: Context) -> Record:
    if "QUESTION" in rec:  # ori_pqal.json, keyed by PMID
        question, contexts, decision, long_answer, native = (
            "QUESTION",
            "CONTEXTS",
            "final_decision",
            "LONG_ANSWER",
            "_key",
        )
        context_list = rec.get(contexts)
    else:  # the Hugging Face layout (qiaojin/PubMedQA pqa_labeled): context = {contexts, labels, meshes}
        question, contexts, decision, long_answer, native = (
            "question",
            "context",
            "final_decision",
            "long_answer",
            "pubid",
        )
        ctx_value = rec.get(contexts)
        context_list = ctx_value.get("contexts") if isinstance(ctx_value, dict) else ctx_value
    label = text(rec, decision, required=True)
    if label is not None and label.strip().lower() not in PUBMEDQA_OPTIONS:
        raise BadRecord(decision, f"{label!r} is not one of yes, no, maybe")
    return {
        "id": rec.get(native),
        "question": text(rec, question, required=True),
        "context": join(text_list(context_list, contexts)),
        "options": list(PUBMEDQA_OPTIONS),
        "answer_idx": PUBMEDQA_OPTIONS.index(label.strip().lower()) if label else None,
        "explanation": text(rec, long_answer),
        "meta": rest(rec, native, question, contexts, decision, long_answer),
    }


def headqa_split(doc: Any) -> Iterator[tuple[str, Any]]:
    """HEAD-QA files: ``{"exams": {name: {"name", "category", "year", "data": [question...]}}}``."""
    exams = doc.get("exams") if isinstance(doc, dict) else None
    if exams is None:
        yield from split_json_default(doc)
        return
    items = exams.items() if isinstance(exams, dict) else enumerate(exams)
    for key, exam in items:
        if not isinstance(exam, dict) or not isinstance(exam.get("data"), list):
            yield f"exams.{key}", BadRecord("data", "an exam needs a `data` list of questions")
            continue
        shared = {"exam": exam.get("name", key), "category": exam.get("category"), "year": exam.get("year")}
        for i, question in enumerate(exam["data"]):
            where = f"exams.{key}.data[{i}]"
            yield (
                where,
                ({**shared, **question} if isinstance(question, dict) else BadRecord(None, "not an object")),
            )


def headqa(rec: Record, ctx: Context) -> Record:
    answers = rec.get("answers")
    if not isinstance(answers, list) or not all(isinstance(a, dict) and "aid" in a for a in answers):
        raise BadRecord("answers", "expected a list of {aid, atext}")
    try:
        answers = sorted(answers, key=lambda a: int(a["aid"]))
        right = int(rec.get("ra"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise BadRecord("ra", f"answer ids must be integers ({e})") from None
    aids = [int(a["aid"]) for a in answers]
    if right not in aids:
        raise BadRecord("ra", f"right answer {right} is not among the answer ids {aids}")
    options = [a.get("atext") for a in answers]
    fields = mcqa_fields(
        text(rec, "qtext", required=True), options, aids.index(right),
        options_field="answers", answer_field="ra", by_index=True,
    )  # fmt: skip
    exam = rec.get("exam") or rec.get("name")
    qid = rec.get("qid")
    row = {
        **fields,
        "id": f"{exam}:{qid}" if exam is not None and qid is not None else qid,
        "subject": text(rec, "category"),
        "meta": rest(rec, "qtext", "answers", "ra", "qid", "category", "name", "image", exam=exam),
    }
    image = rec.get("image")
    if image not in (None, ""):
        return drop(
            row, "has_image", f"the question refers to an image ({str(image)[:80]}) that is not in the data"
        )
    return row


def careqa(rec: Record, ctx: Context) -> Record:
    """CareQA as the Hub holds it (HPAI-BSC/CareQA, config CareQA_en): ``op1``..``op4`` and ``cop``, the
    1-based number of the right option."""
    try:
        right = int(rec.get("cop"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadRecord("cop", "expected the 1-based number of the right option") from None
    fields = mcqa_fields(
        text(rec, "question", required=True), [rec.get(f"op{i}") for i in range(1, 5)], right - 1,
        options_field="op1", answer_field="cop", by_index=True,
    )  # fmt: skip
    used = ("unique_id", "question", "op1", "op2", "op3", "op4", "cop", "category")
    return {**fields, "id": rec.get("unique_id"), "subject": text(rec, "category"), "meta": rest(rec, *used)}


_SPLIT_SUFFIX = re.compile(r"_(dev|val|validation|test|train|auxiliary_train)$")


def mmlu_csv(rec: Record, ctx: Context) -> Record:
    option_keys = [k for k in rec if len(k) == 1 and k in OPTION_LABELS]
    if not option_keys:
        raise BadRecord("A", "missing (MMLU rows are question,A,B,C,D,answer)")
    fields = mcqa_fields(
        text(rec, "question", required=True), [rec[k] for k in option_keys], rec.get("answer"),
        options_field=option_keys[0], answer_field="answer",
    )  # fmt: skip
    match = _SPLIT_SUFFIX.search(ctx.stem)
    return {
        **fields,
        "subject": text(rec, "subject") or (_SPLIT_SUFFIX.sub("", ctx.stem) or None),
        "meta": rest(
            rec, "question", "answer", "subject", *option_keys, split=match.group(1) if match else None
        ),
    }


MCQA_ADAPTERS = [
    Adapter("medagents", "mcqa", "MedAgentsBench JSONL (MedQA, MedMCQA, PubMedQA, MMLU(-Pro), MedBullets, AfriMed-QA, MedExQA): options dict + answer_idx letter", medagents),
    Adapter("hpai_mcqa", "mcqa", "HPAI prompt_engine JSON dicts (CareQA, MedQA 4-opt, MedMCQA, PubMedQA with context): options dict + correct_answer letter", hpai_mcqa),
    Adapter("medmcqa", "mcqa", "MedMCQA: `choices` list + 0-based `answer`, or the Hub layout opa..opd + cop", medmcqa),
    Adapter("pubmedqa", "mcqa", "PubMedQA PQA-L (ori_pqal.json or Hub pqa_labeled): yes/no/maybe with contexts, long answer as explanation", pubmedqa),
    Adapter("careqa", "mcqa", "CareQA Hub layout (HPAI-BSC/CareQA): op1..op4 + cop, the 1-based right option", careqa),
    Adapter("headqa", "mcqa", "HEAD-QA JSON (exams -> data, answers aid/atext, ra = right aid); image questions dropped (has_image)", headqa, split_json=headqa_split),
    Adapter("mmlu_csv", "mcqa", "MMLU header-less CSV question,A,B,C,D,answer; subject from the file name", mmlu_csv, csv_columns=("question", "A", "B", "C", "D", "answer")),
]  # fmt: skip
