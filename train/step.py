"""Entry point for one step of a written plan: ``python -m train.step PLAN.json STEP``.

This is what ``accelerate launch -m train.step ...`` runs in every process of a multi-GPU step.
``FACTORY_TRAIN_FORCE=1`` retrains a step that is already finished.
"""

from __future__ import annotations

import os
import sys

from train.plan import TrainPlan
from train.run import run_step


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m train.step PLAN.json STEP")
    plan = TrainPlan.read(args[0])
    out = run_step(plan, args[1], force=os.environ.get("FACTORY_TRAIN_FORCE") == "1")
    print(out)


if __name__ == "__main__":
    main()
