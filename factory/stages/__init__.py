"""Stages that shape the dataset rather than filter it: chat templating, mixing."""
