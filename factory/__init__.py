"""aloe-factory: one YAML recipe -> versioned, Hub-ready SFT and DPO datasets."""

__version__ = "0.1.0"
