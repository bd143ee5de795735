"""Benchmark decontamination: the benchmark index, its cheap tiers, the semantic tier and the LLM judge."""
