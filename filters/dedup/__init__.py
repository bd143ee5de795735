"""Deduplication stages: exact dedup and MinHash near-dedup (signatures, bands, clusters, filter)."""
