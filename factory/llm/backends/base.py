"""The ``Runner`` interface every generation backend implements (a stream of requests and answers)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from factory.llm.types import Request, Response


class Runner:
    """Base of the runners: ``run`` on top of ``submit`` / ``poll`` / ``pending``."""

    model_id: str  # the model name answers are labelled with
    stats: dict[str, Any]

    def submit(self, ticket: Hashable, request: Request, priority: int = 0) -> None:
        raise NotImplementedError

    def poll(self, timeout: float) -> list[tuple[Any, Response]]:
        raise NotImplementedError

    def pending(self) -> int:
        raise NotImplementedError

    def run(self, requests: list[Request], on_result: Callable[[int, Response], None]) -> None:
        """Send ``requests``; call ``on_result(index, response)`` once per request, in any order."""
        for i, request in enumerate(requests):
            self.submit(i, request)
        left = set(range(len(requests)))
        while left:
            got = self.poll(1.0)
            for i, response in got:
                left.discard(i)
                on_result(i, response)
            if not got and self.pending() == 0:
                for i in sorted(left):
                    on_result(i, Response([], self.model_id, [], error="the backend returned no response"))
                return

    def close(self) -> None:
        pass
