"""Adapters for conversations (kind ``chat``), preference pairs (kind ``preference``, TRL's conversational
format: ``prompt`` = the shared turns, ``chosen``/``rejected`` = the differing last turn) and plain text.
"""

from __future__ import annotations

import re
from typing import Any

from factory.sources.adapters.base import (
    Adapter,
    BadRecord,
    Context,
    Record,
    message,
    messages_of,
    rest,
    text,
)
from factory.stage import drop


def _with_system(rec: Record, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    system = text(rec, "system")
    return [message("system", system), *messages] if system else messages


def messages(rec: Record, ctx: Context) -> Record:
    if "messages" not in rec:
        raise BadRecord("messages", "missing")
    return {
        "id": rec.get("id"),
        "messages": messages_of(rec["messages"], "messages"),
        "meta": rest(rec, "id", "messages"),
    }


def sharegpt(rec: Record, ctx: Context) -> Record:
    key = "conversations" if "conversations" in rec or "messages" not in rec else "messages"
    if key not in rec:
        raise BadRecord(key, "missing")
    return {
        "id": rec.get("id"),
        "messages": _with_system(rec, messages_of(rec[key], key)),
        "meta": rest(rec, "id", key, "system"),
    }


def plain_text(rec: Record, ctx: Context) -> Record:
    return {"id": rec.get("id"), "text": text(rec, "text", required=True), "meta": rest(rec, "id", "text")}


def _pair_drops(row: Record) -> Record:
    """Drops shared by preference adapters: an empty response or two identical ones."""
    chosen, rejected = row["chosen"], row["rejected"]
    if not any(m["content"].strip() for m in chosen) or not any(m["content"].strip() for m in rejected):
        return drop(row, "empty_response", "the chosen or the rejected response is empty")
    if chosen == rejected:
        return drop(row, "identical_pair", "chosen and rejected are the same")
    return row


_HH_TURN = re.compile(r"\n\n(Human|Assistant):")


def hh_turns(dialogue: Any, field: str) -> list[dict[str, str]]:
    """``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` as messages (contents stripped)."""
    if not isinstance(dialogue, str):
        raise BadRecord(field, f"expected a dialogue text, got {type(dialogue).__name__}")
    parts = _HH_TURN.split(dialogue)
    if parts[0].strip() or len(parts) < 3:
        raise BadRecord(field, "expected turns starting with '\\n\\nHuman:' / '\\n\\nAssistant:'")
    return [
        message("user" if who == "Human" else "assistant", body.strip())
        for who, body in zip(parts[1::2], parts[2::2], strict=True)
    ]


def hh_rlhf(rec: Record, ctx: Context) -> Record:
    chosen, rejected = hh_turns(rec.get("chosen"), "chosen"), hh_turns(rec.get("rejected"), "rejected")
    for field, turns in (("chosen", chosen), ("rejected", rejected)):
        if turns[-1]["role"] != "assistant":
            raise BadRecord(field, "the dialogue does not end with an Assistant turn")
    row = {
        "prompt": chosen[:-1],
        "chosen": chosen[-1:],
        "rejected": rejected[-1:],
        "meta": rest(rec, "chosen", "rejected"),
    }
    if chosen[:-1] != rejected[:-1]:
        pairs = enumerate(zip(chosen, rejected, strict=False))
        turn = next((i for i, (a, b) in pairs if a != b), min(len(chosen), len(rejected)) - 1) + 1
        return drop(
            row, "prompt_mismatch", f"chosen and rejected differ before their last turn (at turn {turn})"
        )
    return _pair_drops(row)


def sharegpt_preference(rec: Record, ctx: Context) -> Record:
    for key in ("conversations", "chosen", "rejected"):
        if key not in rec:
            raise BadRecord(key, "missing")
    row = {
        "id": rec.get("id"),
        "prompt": _with_system(rec, messages_of(rec["conversations"], "conversations")),
        "chosen": messages_of(rec["chosen"], "chosen"),
        "rejected": messages_of(rec["rejected"], "rejected"),
        "meta": rest(rec, "id", "conversations", "chosen", "rejected", "system"),
    }
    return _pair_drops(row)


def alpaca_eval_pairs(rec: Record, ctx: Context) -> Record:
    """AlpacaEval pairwise annotations: ``preference`` 1 or 2 names the preferred output; ties are dropped."""
    instruction = text(rec, "instruction", required=True)
    outputs = [text(rec, "output_1", required=True) or "", text(rec, "output_2", required=True) or ""]
    pref = rec.get("preference")
    if isinstance(pref, str) and pref.strip().replace(".", "", 1).isdigit():
        pref = float(pref)
    if pref is not None and (isinstance(pref, bool) or not isinstance(pref, (int, float))):
        raise BadRecord("preference", f"expected 1, 2 or a tie value, got {pref!r}")
    row = {
        "prompt": [message("user", instruction)] if instruction else None,
        "chosen": None,
        "rejected": None,
        "subject": text(rec, "dataset"),
        "meta": rest(rec, "instruction", "output_1", "output_2", "dataset"),
    }
    if pref not in (1, 2):
        return drop(row, "no_preference", f"preference {pref!r}: a tie or no judgement")
    best = int(pref) - 1
    row["chosen"] = [message("assistant", outputs[best])]
    row["rejected"] = [message("assistant", outputs[1 - best])]
    return _pair_drops(row)


CHAT_ADAPTERS = [
    Adapter("messages", "chat", "chat as `messages`: [{role, content}] (e.g. LLaMA-Factory kto_en_demo; label kept in meta)", messages),
    Adapter("sharegpt", "chat", "ShareGPT `conversations`: [{from, value}] (+ optional `system`)", sharegpt),
    Adapter("text", "text", "plain `text` (TXT lines, JSON lists of strings, records with a text field)", plain_text),
    Adapter("hh_rlhf", "preference", "Anthropic HH-RLHF chosen/rejected dialogues -> shared prompt + last Assistant turn each", hh_rlhf),
    Adapter("sharegpt_preference", "preference", "LLaMA-Factory DPO ShareGPT: conversations + chosen + rejected", sharegpt_preference),
    Adapter("alpaca_eval_pairs", "preference", "AlpacaEval pairwise annotations: preference 1/2 picks chosen; ties dropped (no_preference)", alpaca_eval_pairs),
]  # fmt: skip
