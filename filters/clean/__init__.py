"""Cleaning stages: normalisation, length and heuristic filters, language ID, irrelevant lists, answer format."""
