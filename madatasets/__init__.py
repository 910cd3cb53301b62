"""madata: datasets, baselines and benchmarks for offline multi-agent RL.

    import madatasets
    dataset = madatasets.load("mpe-spread-3/random-v0")
    dataset.agent(0).actions        # agent 0's own actions only
    dataset.card.quality            # the card, typed (madatasets.DatasetCard)
    for episode in dataset.sample_episodes(4, numpy.random.default_rng(0)): ...
    env = dataset.make_env()        # the scenario it was collected on (PettingZoo ParallelEnv)
"""

from __future__ import annotations

__version__ = "0.1.0"

from madatasets.dataset import AgentDataset, Dataset, card, list_datasets, load  # noqa: E402
from madatasets.episode import DatasetCard, Episode  # noqa: E402
from madatasets.errors import ChecksumError, MadataError  # noqa: E402
from madatasets.scenarios import get_spec, make, scenario_names  # noqa: E402
from madatasets.scores import normalized_score  # noqa: E402
from madatasets.store import Store, parse_id  # noqa: E402

__all__ = ["AgentDataset", "ChecksumError", "Dataset", "DatasetCard", "Episode", "MadataError", "Store", "card", "get_spec",
           "list_datasets", "load", "make", "normalized_score", "parse_id", "scenario_names", "__version__"]
