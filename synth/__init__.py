"""synth stages (discovered by factory.registry)."""
