"""train stages (discovered by factory.registry)."""
