from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a whole test module: small matmuls on a shared 2-core
    machine only contend with more, and batched-vs-looped comparisons stay reproducible."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def store_path(tmp_path):
    """A fresh store directory; the default store is never touched by tests."""
    return tmp_path / "store"


def random_store(tmp_path_factory, scenario: str = "mpe-spread-3", steps: int = 200) -> str:
    """A fresh store holding one small random-tier dataset of `scenario` (for module-scoped fixtures)."""
    from collectors.collect import collect
    root = tmp_path_factory.mktemp("store") / "store"
    collect(scenario, "random", steps=steps, store=root, progress=False)
    return str(root)


@pytest.fixture
def reference_file(tmp_path, monkeypatch):
    """A private reference_scores.json for the test (the shipped one is never written)."""
    import madatasets.spec as spec
    path = tmp_path / "reference_scores.json"
    monkeypatch.setattr(spec, "REFERENCE_SCORES_PATH", path)
    spec._load_reference_scores.cache_clear()
    yield path
    spec._load_reference_scores.cache_clear()
