"""Paths the tests share (importable from test modules: pytest puts tests/ on sys.path)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
