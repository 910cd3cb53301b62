"""Discrete baselines (SMAX): masked losses and acting, and a whole harness run with win rates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("jaxmarl")

from madatasets.smax import single_thread_flags  # noqa: E402

single_thread_flags()

from baselines.algorithms import DISCRETE_ALGORITHMS, algorithm_module  # noqa: E402
from baselines.bench import RunSpec, make_replay, train_run  # noqa: E402
from baselines.core.discrete import DiscreteBatch, DiscreteReplay  # noqa: E402
from collectors.smax_collect import collect_smax  # noqa: E402
from madatasets.dataset import load  # noqa: E402
from madatasets.errors import MadataError  # noqa: E402
from madatasets.scenarios import get_spec  # noqa: E402
from madatasets.store import Store  # noqa: E402

from conftest import random_store  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPEC = get_spec("smax-3m")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("smax") / "store"
    # 3 slots: the vectorized program tests/test_smax.py compiles too (one compile per process).
    collect_smax(SPEC, "random", 300, 0, root, False, None, False, slots=3)
    return str(root)


def tiny_batch(legal_first_only: bool = False) -> DiscreteBatch:
    g = torch.Generator().manual_seed(0)
    b, n, a = 4, SPEC.n_agents, SPEC.act_dim
    legal = torch.zeros(b, n, a, dtype=torch.bool)
    legal[..., :5] = True                                   # moves and stop legal, attacks not
    return DiscreteBatch(torch.randn(b, n, SPEC.obs_dim, generator=g), torch.full((b, n), 4), legal,
                         torch.ones(b, n), torch.randn(b, n, SPEC.obs_dim, generator=g), legal.clone(),
                         torch.tensor([0.0, 1.0, 0.0, 0.0]), torch.zeros(b, SPEC.state_dim),
                         torch.zeros(b, SPEC.state_dim))


def make(name: str, **values):
    module = algorithm_module(name)
    return module.Algorithm(module.Config(**values), SPEC, torch.Generator().manual_seed(0))


def rig_illegal_favourite(algorithm) -> None:
    # The last layer prefers attack 0 (action 5) above everything: illegal at the batch's masks.
    last = algorithm.acting_network.net[-1]
    with torch.no_grad():
        last.bias.zero_()
        last.bias[5] = 1e3


@pytest.mark.parametrize("name", DISCRETE_ALGORITHMS)
def test_masked_acting_never_picks_an_illegal_action(name):
    # BCQ's behaviour threshold off here: the test is about the masks (its own test is below).
    algorithm = make(name, **({"threshold": 0.0} if name in ("bcq_discrete", "mabcq_discrete") else {}))
    rig_illegal_favourite(algorithm)
    batch = tiny_batch()
    legal = batch.legal.numpy().transpose(1, 0, 2)
    actions = algorithm.act(batch.observations.numpy().transpose(1, 0, 2), np.zeros((4, SPEC.state_dim)), legal=legal)
    assert actions.shape == (SPEC.n_agents, 4)
    assert np.take_along_axis(legal, actions[..., None], -1).all()
    legal[..., 5] = True                                    # once legal, the favourite is taken
    assert (algorithm.act(batch.observations.numpy().transpose(1, 0, 2), None, legal=legal) == 5).all()
    with pytest.raises(MadataError, match="legal-action masks"):
        algorithm.act(batch.observations.numpy().transpose(1, 0, 2), None)


def test_iql_cql_losses_use_only_legal_actions():
    algorithm = make("iql_cql", normalize_observations=False)
    rig_illegal_favourite(algorithm)
    algorithm.target.load_state_dict(algorithm.network.state_dict())
    batch = tiny_batch()
    td, cql = algorithm.losses(batch)
    # By hand: Q over the legal actions only; the illegal favourite (1e3) must not enter.
    q = algorithm.network(batch.observations)[..., :5]
    next_q = algorithm.target(batch.next_observations)[..., :5].amax(-1)
    target = batch.rewards + 0.99 * (1 - batch.dones).unsqueeze(-1) * next_q
    q_taken = q[..., 4]
    assert torch.isclose(td, (q_taken - target).pow(2).mean())
    assert torch.isclose(cql, (torch.logsumexp(q, -1) - q_taken).mean())
    assert cql.item() < 100                                 # 1e3 would dominate a logsumexp over all actions


def test_qmix_mixing_is_monotone_in_every_agent_utility():
    algorithm = make("qmix_cql")
    states = torch.randn(5, SPEC.state_dim, generator=torch.Generator().manual_seed(2))
    utilities = torch.randn(5, SPEC.n_agents, generator=torch.Generator().manual_seed(3))
    base = algorithm.mixer(utilities, states)
    for i in range(SPEC.n_agents):
        raised = utilities.clone()
        raised[:, i] += 1.0
        assert (algorithm.mixer(raised, states) >= base).all()
    td, cql = algorithm.losses(tiny_batch())
    assert torch.isfinite(td) and cql.item() >= 0        # logsumexp over a set holding the data action


def test_bcq_acts_only_among_actions_the_behaviour_model_finds_likely():
    algorithm = make("bcq_discrete")
    rig_illegal_favourite(algorithm)                        # Q prefers attack 0 (action 5) ...
    with torch.no_grad():
        algorithm.imitation.net[-1].bias.zero_()
        algorithm.imitation.net[-1].bias[2] = 50.0          # ... the behaviour model only ever moves 2
    batch = tiny_batch()
    legal = np.ones((SPEC.n_agents, 4, SPEC.act_dim), dtype=bool)
    actions = algorithm.act(batch.observations.numpy().transpose(1, 0, 2), None, legal=legal)
    assert (actions == 2).all()
    legal[..., 2] = False                                   # not legal: the next likely legal action instead
    assert not (algorithm.act(batch.observations.numpy().transpose(1, 0, 2), None, legal=legal) == 2).any()


@pytest.mark.parametrize("name", DISCRETE_ALGORITHMS)
def test_a_few_updates_on_a_smax_dataset_have_finite_losses(store, name):
    dataset = load("smax-3m/random-v0", store)
    replay = DiscreteReplay(dataset)
    module = algorithm_module(name)
    config = module.Config(batch_size=32)
    algorithm = module.Algorithm(config, SPEC, torch.Generator().manual_seed(0), replay.observation_statistics())
    generator = torch.Generator().manual_seed(1)
    for _ in range(3):
        losses = algorithm.update(replay.sample(32, generator))
        assert losses and all(np.isfinite(v) for v in losses.values())


def test_the_harness_reports_win_rate_beside_the_return(store, tmp_path):
    results = train_run(RunSpec("iql_cql", "smax-3m/random-v0", seed=0, updates=2, eval_every=2, eval_episodes=3,
                                overrides=("batch_size=16",), out_dir=str(tmp_path), store=store, progress=False))
    final = results["final"]
    assert 0.0 <= final["win_rate"] <= 1.0 and np.isfinite(final["mean_return"]) and len(final["returns"]) == 3
    assert "win_rate" in results["curve"][-1]
    # The saved policy re-evaluates to the same episodes (`madata evaluate`).
    from baselines.checkpoints import evaluate_checkpoint
    again = evaluate_checkpoint(next(tmp_path.rglob("seed_0.pt")), episodes=3)
    assert again["returns"] == final["returns"] and again["win_rate"] == final["win_rate"]
    # `madata report` puts the win rate beside the return for discrete runs.
    from baselines.report import markdown_report
    from baselines.results import load_results
    table = markdown_report(load_results([str(tmp_path)]), reps=100).splitlines()
    assert table[0].endswith("| win rate (mean ± std) |")
    assert table[2].endswith(f"| {final['win_rate']:.3f} ± 0.000 |")


def test_continuous_datasets_and_discrete_algorithms_do_not_mix(tmp_path_factory, store):
    root = random_store(tmp_path_factory)
    continuous = load(Store(root).list()[0], root)
    with pytest.raises(MadataError, match="no discrete actions"):
        make_replay("discrete", continuous, algorithm_module("iql_cql").Config())
    with pytest.raises(MadataError, match="discrete actions; train it with a discrete algorithm"):
        make_replay("joint", load("smax-3m/random-v0", store), algorithm_module("bc").Config())
    with pytest.raises(MadataError, match="discrete-action algorithm"):
        algorithm_module("iql_cql").Algorithm(algorithm_module("iql_cql").Config(), get_spec("mpe-spread-3"),
                                              torch.Generator())
