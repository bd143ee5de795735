"""The versioned store: stage cache entries, shards, shuffles, version folders."""
