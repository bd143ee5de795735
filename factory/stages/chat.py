"""Templating: canonical rows -> chat ``messages`` (SFT) and system-prompted preference prompts."""

from __future__ import annotations

from typing import Any, Literal

import jinja2
from pydantic import Field

from factory.rows import option_label
from factory.stage import Stage

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
            options = [(option_label(i), text) for i, text in enumerate(row["options"])]
            label = option_label(row["answer_idx"])
            user = self._user.render(
                context=row["context"], question=row["question"], options=options
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
