"""filters stages (discovered by factory.registry)."""
