"""Templating: canonical rows -> chat ``messages`` (SFT) and system-prompted preference prompts.

``process_table`` builds the message lists with Arrow (no row dicts); MCQA rows with custom templates go
through Jinja one row at a time (``process_row``, the reference both paths equal).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import jinja2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from factory.columns import array, kind_mask
from factory.mcqa.options import labelled, option_label, render_options_array
from factory.rows import MESSAGE
from factory.stage import Stage
from factory.textnorm import WHITESPACE

MCQA_USER = (
    "{% if context %}{{ context }}\n\n{% endif %}{{ question }}\n\n"
    "{% for label, text in options %}{{ label }}. {{ text }}\n{% endfor %}"
)
MCQA_ASSISTANT = "{% if explanation %}{{ explanation }}\n\n{% endif %}The answer is {{ label }}. {{ answer }}"


class ToChat(Stage):
    """Renders each row as a conversation with the recipe's system prompt.

    - ``mcqa``: user = context, question and labelled options; assistant = (explanation and) the answer
      as "The answer is B. <text>". Both are Jinja templates you can override.
    - ``qa``: user = question, assistant = answer. ``chat``: system prompt added if none.
    - ``preference``: the system prompt is put at the head of ``prompt``.
    ``prompt`` and ``text`` rows pass unchanged (they have no answer to train on).
    """

    type: Literal["to_chat"] = "to_chat"
    system_prompt: str | None = Field(None, description="default: the recipe's `system_prompt`")
    mcqa_user_template: str = MCQA_USER
    mcqa_assistant_template: str = MCQA_ASSISTANT
    use_explanation: bool = Field(True, description="put an MCQA row's explanation before its answer")

    min_batch_size: ClassVar[int] = 16_384

    def setup(self) -> None:
        env = jinja2.Environment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
        )
        self._user = env.from_string(self.mcqa_user_template)
        self._assistant = env.from_string(self.mcqa_assistant_template)

    def _system(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        kind = row["kind"]
        if kind == "mcqa":
            label = option_label(row["answer_idx"])
            user = self._user.render(
                context=row["context"], question=row["question"], options=labelled(row["options"])
            ).strip()
            assistant = self._assistant.render(
                label=label,
                answer=row["options"][row["answer_idx"]],
                explanation=row["explanation"] if self.use_explanation else None,
            ).strip()
            return {
                **row,
                "messages": [
                    *self._system(),
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": assistant},
                ],
            }
        if kind == "qa":
            turns = [
                {"role": "user", "content": row["question"]},
                {"role": "assistant", "content": row["answer"]},
            ]
            return {**row, "messages": [*self._system(), *turns]}
        if kind == "chat":
            has_system = row["messages"] and row["messages"][0]["role"] == "system"
            return row if has_system else {**row, "messages": [*self._system(), *row["messages"]]}
        if kind == "preference":
            has_system = row["prompt"] and row["prompt"][0]["role"] == "system"
            return row if has_system else {**row, "prompt": [*self._system(), *row["prompt"]]}
        return row

    # -- vectorised ---------------------------------------------------------------------------------
    def process_table(self, table: pa.Table) -> pa.Table:
        n = table.num_rows
        messages = array(table.column("messages"))
        parts = [messages]  # then the rebuilt lists of some rows; pick[i] = index into concat(parts)
        pick = np.arange(n)
        qa, mcqa, chat = (np.flatnonzero(kind_mask(table, [k])) for k in ("qa", "mcqa", "chat"))
        if qa.size:
            rows = table.take(pa.array(qa))
            turns = [("user", rows.column("question")), ("assistant", rows.column("answer"))]
            parts.append(self._lists(turns, qa.size))
            pick[qa] = n + np.arange(qa.size)
        if mcqa.size:
            parts.append(self._mcqa(table.take(pa.array(mcqa))))
            pick[mcqa] = sum(len(p) for p in parts[:-1]) + np.arange(mcqa.size)
        if chat.size and self.system_prompt:
            parts.append(self._with_system(array(table.column("messages").take(pa.array(chat)))))
            pick[chat] = sum(len(p) for p in parts[:-1]) + np.arange(chat.size)
        out = table.set_column(
            table.schema.get_field_index("messages"),
            "messages",
            pa.concat_arrays([p.cast(messages.type) for p in parts]).take(pa.array(pick)),
        )
        pref = np.flatnonzero(kind_mask(table, ["preference"]))
        if pref.size and self.system_prompt:
            prompt = array(table.column("prompt"))
            pick = np.arange(n)
            pick[pref] = n + np.arange(pref.size)
            fixed = self._with_system(prompt.take(pa.array(pref))).cast(prompt.type)
            out = out.set_column(
                out.schema.get_field_index("prompt"),
                "prompt",
                pa.concat_arrays([prompt, fixed]).take(pa.array(pick)),
            )
        return out

    def _lists(self, turns: list[tuple[str, Any]], rows: int) -> pa.Array:
        """One message list per row: the system turn (if any), then ``turns`` (role, content column)."""
        if self.system_prompt:
            turns = [("system", pa.array([self.system_prompt] * rows, pa.string())), *turns]
        k = len(turns)
        content = pa.concat_arrays([array(c).cast(pa.string()) for _, c in turns])
        order = (np.arange(k)[None, :] * rows + np.arange(rows)[:, None]).ravel()  # row-major turns
        roles = pa.array(
            np.repeat(np.array([r for r, _ in turns], object)[None, :], rows, axis=0).ravel(), pa.string()
        )
        items = pa.StructArray.from_arrays([roles, content.take(pa.array(order))], fields=list(MESSAGE))
        return pa.ListArray.from_arrays(pa.array(np.arange(0, k * rows + 1, k, dtype=np.int32)), items)

    def _with_system(self, lists: pa.Array) -> pa.Array:
        """Each list with the system turn put first, unless it already starts with one."""
        sizes = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        flat = lists.flatten()
        first_role = pc.list_element(pc.if_else(pc.greater(pc.list_value_length(lists), 0), lists, None), 0)
        has = np.asarray(pc.fill_null(pc.equal(pc.struct_field(first_role, "role"), "system"), False), bool)
        add = ~has
        system = pa.StructArray.from_arrays(
            [pa.array(["system"], pa.string()), pa.array([self.system_prompt], pa.string())],
            fields=list(MESSAGE),
        )
        new_sizes = sizes + add
        index = np.full(int(new_sizes.sum()), len(flat), np.int64)  # len(flat): the system turn
        new_starts = np.concatenate([[0], np.cumsum(new_sizes)])
        shift = np.repeat(new_starts[:-1] + add - starts[:-1], sizes)
        index[np.arange(len(flat)) + shift] = np.arange(len(flat))
        items = pa.concat_arrays([flat.cast(system.type), system]).take(pa.array(index))
        return pa.ListArray.from_arrays(pa.array(new_starts.astype(np.int32)), items)

    def _mcqa(self, rows: pa.Table) -> pa.Array:
        """MCQA rows' messages: Arrow string building for the default templates, else Jinja row by row."""
        if self.mcqa_user_template != MCQA_USER or self.mcqa_assistant_template != MCQA_ASSISTANT:
            done = [self.process_row(r)["messages"] for r in rows.to_pylist()]
            return pa.array(done, pa.list_(MESSAGE))
        n = rows.num_rows
        options = array(rows.column("options"))
        sizes = pc.list_value_length(options).to_numpy(zero_copy_only=False).astype(np.int64)
        listed = render_options_array(options)
        context = array(rows.column("context"))
        lead = pc.if_else(
            pc.fill_null(pc.greater(pc.utf8_length(context), 0), False),
            pc.binary_join_element_wise(context, "\n\n", ""),
            "",
        )
        user = pc.binary_join_element_wise(lead, array(rows.column("question")), "\n\n", listed, "")
        idx = array(rows.column("answer_idx")).to_numpy(zero_copy_only=False).astype(np.int64)
        answer = options.flatten().take(pa.array(np.cumsum(sizes) - sizes + idx))
        label = pa.array([option_label(i) for i in idx.tolist()], pa.string())
        expl = array(rows.column("explanation"))
        has_expl = pc.fill_null(pc.greater(pc.utf8_length(expl), 0), False)
        if not self.use_explanation:
            has_expl = pa.array(np.zeros(n, bool))
        head = pc.if_else(has_expl, pc.binary_join_element_wise(expl, "\n\n", ""), "")
        tail = pc.binary_join_element_wise("The answer is ", label, ". ", pc.fill_null(answer, "None"), "")
        assistant = pc.binary_join_element_wise(head, tail, "")
        strip = WHITESPACE
        return self._lists(
            [("user", pc.utf8_trim(user, strip)), ("assistant", pc.utf8_trim(assistant, strip))], n
        )
