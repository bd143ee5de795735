"""Training and evaluation on dataset versions: ``factory train`` (TRL SFT -> merge -> DPO stages) and
``factory eval`` (lm-evaluation-harness on the medical MCQA benchmarks + a safety score). See docs/TRAIN.md."""
