from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def store_path(tmp_path):
    """A fresh store directory; the default store is never touched by tests."""
    return tmp_path / "store"
