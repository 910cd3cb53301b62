"""Collection streams shards to the store as they fill, and refuses budgets that cannot fit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import madatasets
import madatasets.writer as writer_module
from collectors import collect as collect_module
from collectors.collect import collect
from collectors.rollout import UniformRandomPolicy, assemble, rollout
from madatasets.integrity import array_checksum
from madatasets.scenarios import get_spec


@pytest.mark.parametrize("quality", ["random", "medium-expert", "mixed"])
def test_shards_reach_the_disk_while_the_rollout_runs(store_path, monkeypatch, quality):
    # Tiny shards, so a short collection spans many; the sink sees each episode as it comes.
    # The zoo tiers stream as the random one does (mixed: each agent's dataset in turn).
    monkeypatch.setattr(writer_module, "CHUNK_BYTES", 2048)
    monkeypatch.setattr(writer_module, "CHUNKS_PER_SHARD", 2)
    shards_seen_mid_rollout = []
    original = collect_module.EpisodeSink.__call__

    def watching(self, episode):
        original(self, episode)
        if self.episodes == 10:
            shards = self.version.directory / "data.zarr" / (self.prefix + "observations") / "c"
            shards_seen_mid_rollout.append(len(list(shards.iterdir())) if shards.exists() else 0)
            # One shard's rows buffered per array, never the whole collection; the final rows it
            # keeps own their memory (a view would keep each episode's recorder arrays alive).
            assert len(self.streams["observations"]._buffer) < 300
            assert self.final_observations[-1].base is None and self.final_states[-1].base is None

    monkeypatch.setattr(collect_module.EpisodeSink, "__call__", watching)
    collect("mpe-spread-3", quality, steps=1000, seed=3, store=store_path, progress=False)
    datasets = 3 if quality == "mixed" else 1
    assert len(shards_seen_mid_rollout) == datasets and min(shards_seen_mid_rollout) >= 2
    dataset = madatasets.load(f"mpe-spread-3/{quality}-v1", store=store_path)
    assert dataset.card["total_steps"] == 1000 * datasets
    if quality != "random":
        return
    # The streamed arrays are exactly what assembling the same episodes in memory gives.
    spec = get_spec("mpe-spread-3")
    episodes = rollout("mpe-spread-3", UniformRandomPolicy(spec.act_mask, spec.episode_limit), 1000, 3, progress=False)
    for name, array in assemble(episodes, spec.n_agents).items():
        assert dataset.card["checksums"][name] == array_checksum(array), name


@pytest.mark.parametrize("scenario", ["halfcheetah-2x3", "smax-3m"])
def test_a_budget_too_large_for_the_disk_is_refused_before_rollout(store_path, scenario):
    if scenario.startswith("smax-"):
        pytest.importorskip("jaxmarl")
    result = subprocess.run([sys.executable, "-m", "madatasets.cli", "collect", scenario, "--env-steps",
                             str(10**13), "--quiet", "--store", str(store_path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if "E1201" not in line]   # XLA's own notes
    assert len(lines) == 1 and "on disk" in lines[0] and "collect at most" in lines[0], result.stderr
    assert madatasets.list_datasets(store_path) == []
    assert not (Path(store_path) / scenario).exists()          # nothing was staged


def test_no_complete_episode_means_no_return_statistics(store_path):
    # 10 steps of spread (episodes of 25): the only episode is cut by the budget.
    collect("mpe-spread-3", "random", steps=10, store=store_path, progress=False)
    card = madatasets.card("mpe-spread-3/random-v1", store=store_path)
    assert card["returns"]["episodes"] == 0 and np.isnan(card["returns"]["mean"])
    assert "normalized_return_mean" not in card


def test_a_streamed_card_has_the_fields_of_an_in_memory_one(store_path):
    from collectors.collect import zoo_version_of
    collect("mpe-spread-3", "random", steps=60, store=store_path, progress=False)
    card = madatasets.card(f"mpe-spread-3/random-v{zoo_version_of(None)}", store=store_path)
    assert card["zoo_version"] == zoo_version_of(None)
    assert card["reference_details"] == get_spec("mpe-spread-3").reference_details
    assert card["collection"] == {"steps_requested": 60, "action_noise": None,
                                  "episode_seeding": "SeedSequence([seed, episode_index])"}


def test_a_smax_collection_reaches_the_disk_block_by_block(tmp_path, monkeypatch):
    pytest.importorskip("jaxmarl")
    import collectors.smax_collect as smax_collect
    from collectors.smax_sink import DiscreteSink
    from madatasets.smax import single_thread_flags
    single_thread_flags()
    # Small shards and blocks: a 2,000-step collection spans many of each.
    monkeypatch.setattr(writer_module, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(writer_module, "CHUNKS_PER_SHARD", 2)
    monkeypatch.setattr(smax_collect, "STREAM_ROWS", 300)
    shards_before_each_block = []
    original = DiscreteSink.append

    def watching(self, block, behavior):
        shards = self.version.directory / "data.zarr" / "observations" / "c"
        shards_before_each_block.append(len(list(shards.iterdir())) if shards.exists() else 0)
        original(self, block, behavior)

    monkeypatch.setattr(DiscreteSink, "append", watching)
    collect("smax-3m", "random", steps=2000, store=tmp_path / "store", progress=False)
    assert len(shards_before_each_block) >= 2
    assert shards_before_each_block[-1] >= 2     # earlier blocks are on disk before the last is handed over
    assert len(madatasets.load("smax-3m/random-v0", store=tmp_path / "store").arrays["actions"]) == 2000
