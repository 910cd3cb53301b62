"""Recurrent (GRU) discrete agents: the sequence replay, hidden states per evaluation slot,
the sequence losses of bc_discrete / iql_cql / qmix_cql, checkpoints, and the refusal elsewhere."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("jaxmarl")

import test_discrete_baselines  # noqa: E402
from baselines.algorithms import DISCRETE_ALGORITHMS, RECURRENT_ALGORITHMS, algorithm_module  # noqa: E402
from baselines.bench import RunSpec, make_replay, train_run  # noqa: E402
from baselines.checkpoints import evaluate_checkpoint  # noqa: E402
from baselines.configure import build_config  # noqa: E402
from baselines.core.discrete import DiscreteBatch, DiscreteReplay  # noqa: E402
from baselines.core.sequences import SequenceReplay  # noqa: E402
from baselines.discrete_evaluation import DiscreteEvaluator  # noqa: E402
from madatasets.dataset import load  # noqa: E402
from madatasets.errors import MadataError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPEC = test_discrete_baselines.SPEC
store = test_discrete_baselines.store          # the fixture: a tiny smax-3m/random-v0 store
N, O, A, S = 2, 3, 4, 2                        # the numbered dataset's shapes


def numbered_dataset(lengths: list[int]) -> SimpleNamespace:
    """A joint discrete dataset whose observation and state carry their row (t + 1) and whose
    stored final rows carry -(episode + 1), so every sampled step says where it came from."""
    t = sum(lengths)
    ends = np.cumsum(lengths)
    marks = np.arange(1, t + 1, dtype=np.float32)
    finals = -np.arange(1, len(lengths) + 1, dtype=np.float32)
    legal = np.zeros((t, N, A), dtype=bool)
    legal[..., 0] = True
    arrays = {"observations": np.repeat(marks[:, None, None], N, 1).repeat(O, 2),
              "actions": np.ones((t, N), dtype=np.int32), "legal_actions": legal,
              "rewards": np.repeat(marks[:, None], N, 1), "terminations": np.zeros((t, N), dtype=bool),
              "states": np.repeat(marks[:, None], S, 1),
              "final_observations": np.repeat(finals[:, None, None], N, 1).repeat(O, 2),
              "final_legal_actions": np.ones((len(lengths), N, A), dtype=bool),
              "final_states": np.repeat(finals[:, None], S, 1)}
    return SimpleNamespace(id="numbered/x-v0", layout="joint", spec=SimpleNamespace(discrete=True),
                           arrays=arrays, episode_ends=ends)


def test_sequences_are_a_chunk_of_one_episode_after_its_burn_in():
    lengths, length, burn_in = [3, 7, 25, 1, 12], 5, 3
    replay = SequenceReplay(numbered_dataset(lengths), length, burn_in)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    # Every step lies in exactly one chunk: chunks are drawn uniformly, so steps are too.
    chunks = zip(replay.chunk_starts.tolist(), replay.chunk_ends.tolist())
    covered = np.concatenate([np.arange(start, end) for start, end in chunks])
    assert (covered == np.arange(sum(lengths))).all()
    assert replay.sample(4 * length, torch.Generator().manual_seed(0)).mask.shape[0] == 4
    batch = replay.sample_sequences(200, torch.Generator().manual_seed(1))
    assert batch.observations.shape[:3] == (200, batch.mask.shape[1], N)
    seen = set()
    for b in range(200):
        mark = batch.observations[b, :, 0, 0].numpy()
        valid = mark != 0
        rows = mark[valid].astype(int) - 1
        assert valid[:len(rows)].all() and (np.diff(rows) == 1).all()           # a prefix of consecutive rows
        episode = int(np.searchsorted(ends, rows[0], side="right"))
        assert rows[-1] < ends[episode]                                          # of one episode
        trained = rows[batch.mask[b, :len(rows)].numpy() == 1]
        assert batch.mask[b, len(rows):].sum() == 0
        first = trained[0]
        assert (first - starts[episode]) % length == 0                           # a chunk of the episode
        assert len(trained) == min(length, ends[episode] - first) and (trained == rows[-len(trained):]).all()
        assert rows[0] == max(starts[episode], first - burn_in)                  # after its burn-in
        seen.add(int(first))
        # Next-step fields: the next row, the stored final row at the episode's end.
        following = batch.next_observations[b, :len(rows), 0, 0].numpy()
        expected = np.where(rows == ends[episode] - 1, -(episode + 1), rows + 2)
        assert (following == expected).all()
        assert (batch.next_states[b, :len(rows), 0].numpy() == expected).all()
        assert (batch.rewards[b, :len(rows), 0].numpy() == rows + 1).all()
        assert (batch.has_next[b, :len(rows)].numpy() == (rows != ends[episode] - 1)).all()
        # Padding: zeros, every action legal (masked maxima stay finite).
        assert (batch.observations[b, len(rows):] == 0).all() and batch.legal[b, len(rows):].all()
    assert seen == set(replay.chunk_starts.tolist())


def test_the_real_replay_builds_the_same_rows_as_the_transition_replay(store):
    dataset = load("smax-3m/random-v0", store)
    config = algorithm_module("iql_cql").Config(recurrent=True, sequence_length=6, burn_in=4)
    replay = make_replay("discrete", dataset, config)
    rows = DiscreteReplay(dataset)
    assert isinstance(replay, SequenceReplay)
    assert torch.equal(replay.next_observations, rows.next_observations)
    assert type(make_replay("discrete", dataset, algorithm_module("iql_cql").Config())) is DiscreteReplay
    batch = replay.sample_sequences(8, torch.Generator().manual_seed(0))
    assert batch.mask.sum() >= 8 and batch.mask.shape[1] <= 10


def recurrent(name: str = "iql_cql", **values):
    module = algorithm_module(name)
    return module.Algorithm(module.Config(recurrent=True, normalize_observations=False, **values), SPEC,
                            torch.Generator().manual_seed(0))


def columns(*observations: torch.Tensor) -> np.ndarray:
    """Per-environment observations (N, O) as a policy call's (N, E, O)."""
    return torch.stack(observations, 1).numpy()


def all_legal(envs: int) -> np.ndarray:
    return np.ones((SPEC.n_agents, envs, SPEC.act_dim), dtype=bool)


def test_a_gru_policy_acts_on_its_history():
    algorithm = recurrent()
    g = torch.Generator().manual_seed(3)
    past_a, past_b, now = (torch.randn(SPEC.n_agents, SPEC.obs_dim, generator=g) for _ in range(3))
    legal = all_legal(2)
    algorithm.begin_episodes(2)
    algorithm.act(columns(past_a, past_b), None, legal=legal)
    algorithm.act(columns(now, now), None, legal=legal)
    # Same observation now, different pasts: different hidden states and values.
    hidden = algorithm.memory.hidden
    assert not torch.allclose(hidden[0], hidden[1])
    with torch.no_grad():
        values = algorithm.network(torch.stack([torch.stack([past_a, now]), torch.stack([past_b, now])]))[0]
    assert not torch.allclose(values[0, -1], values[1, -1])
    # Many pasts, one present: the greedy actions differ.
    pasts = torch.randn(SPEC.n_agents, 32, SPEC.obs_dim, generator=g).numpy()
    legal = all_legal(32)
    algorithm.begin_episodes(32)
    algorithm.act(pasts, None, legal=legal)
    assert len(np.unique(algorithm.act(np.repeat(now[:, None].numpy(), 32, 1), None, legal=legal))) > 1


def test_hidden_states_stay_with_their_environment_when_others_end():
    algorithm = recurrent()
    g = torch.Generator().manual_seed(4)
    steps = [(torch.randn(SPEC.n_agents, SPEC.obs_dim, generator=g) for _ in range(3)) for _ in range(3)]
    (a0, b0, c0), (a1, b1, c1), (_, b2, _) = steps
    algorithm.begin_episodes(3)
    algorithm.act(columns(a0, b0, c0), None, legal=all_legal(3))
    algorithm.act(columns(a1, b1, c1), None, legal=all_legal(3))
    algorithm.end_episode(0)
    algorithm.end_episode(2)
    chosen = algorithm.act(columns(b2), None, legal=all_legal(1))             # the one live column is slot 1
    with torch.no_grad():
        values, hidden = algorithm.network(torch.stack([b0, b1, b2]).unsqueeze(0))
    assert torch.allclose(algorithm.memory.hidden[1], hidden[0], atol=1e-6)
    assert (chosen[:, 0] == values[0, -1].argmax(-1).numpy()).all()
    with pytest.raises(MadataError, match="begin_episodes"):
        algorithm.act(columns(b2, b2), None, legal=all_legal(2))
    algorithm.end_episode(1)                                             # every episode over: the next call begins
    algorithm.act(columns(b2, b2), None, legal=all_legal(2))


def test_recurrent_iql_cql_targets_come_from_the_sequence_shifted_by_one():
    algorithm = recurrent(hidden=(16, 8))
    g = torch.Generator().manual_seed(5)
    b, steps, n, a = 2, 3, SPEC.n_agents, SPEC.act_dim
    legal = torch.rand(b, steps, n, a, generator=g) < 0.6
    legal[..., 4] = True
    next_legal = torch.rand(b, steps, n, a, generator=g) < 0.6
    next_legal[..., 4] = True
    actions = torch.full((b, steps, n), 4)
    # Sequence 0: two steps, the second ending its episode, then padding; sequence 1: a burn-in step, two more.
    obs = torch.randn(b, steps, n, SPEC.obs_dim, generator=g)
    obs[0, 2] = 0.0
    next_obs = torch.cat([obs[:, 1:], torch.randn(b, 1, n, SPEC.obs_dim, generator=g)], dim=1)
    next_obs[0, 1], next_obs[0, 2] = torch.randn(n, SPEC.obs_dim, generator=g), 0.0     # the final observation
    rewards, dones = torch.rand(b, steps, n, generator=g), torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    batch = DiscreteBatch(obs, actions, legal, rewards, next_obs, next_legal, dones, torch.zeros(b, steps, S),
                          torch.zeros(b, steps, S), mask=mask)
    td, cql = algorithm.losses(batch)
    # By hand: step t's Q from the history up to t, its target from the history up to t then t's next step.
    tds, cqls = [], []
    for i in range(b):
        for t in range(steps):
            if not mask[i, t]:
                continue
            q = algorithm.network(obs[i:i + 1, :t + 1])[0][0, -1].masked_fill(~legal[i, t], float("-inf"))
            after = torch.cat([obs[i:i + 1, :t + 1], next_obs[i:i + 1, t:t + 1]], dim=1)
            next_q = algorithm.target(after)[0][0, -1].masked_fill(~next_legal[i, t], float("-inf")).amax(-1)
            y = rewards[i, t] + 0.99 * (1 - dones[i, t]) * next_q
            tds.append((q[:, 4] - y).pow(2).mean())
            cqls.append((torch.logsumexp(q, -1) - q[:, 4]).mean())
    assert torch.isclose(td, torch.stack(tds).mean(), atol=1e-6)
    assert torch.isclose(cql, torch.stack(cqls).mean(), atol=1e-6)


@pytest.mark.parametrize("name", RECURRENT_ALGORITHMS)
def test_recurrent_algorithms_train_and_evaluate_legally(store, name):
    dataset = load("smax-3m/random-v0", store)
    module = algorithm_module(name)
    config = module.Config(recurrent=True, batch_size=32, sequence_length=8, burn_in=4, hidden=(32, 32))
    replay = make_replay("discrete", dataset, config)
    algorithm = module.Algorithm(config, SPEC, torch.Generator().manual_seed(0), replay.observation_statistics())
    generator = torch.Generator().manual_seed(1)
    for _ in range(3):
        losses = algorithm.update(replay.sample(config.batch_size, generator))
        assert losses and all(np.isfinite(v) for v in losses.values())
    evaluator = DiscreteEvaluator(SPEC.name, episodes=3, seed=0, parallel=2)   # waves of 2, then 1
    returns, wins = evaluator.run(algorithm)    # SmaxEnv.step_arrays refuses an illegal action
    evaluator.close()
    assert returns.shape == (3,) and np.isfinite(returns).all()


def episode_actions(algorithm, parallel: int, episodes: int = 6) -> dict[int, list[list[int]]]:
    """Every evaluation episode's actions, keyed by its reset seed."""
    evaluator = DiscreteEvaluator(SPEC.name, episodes=episodes, seed=0, parallel=parallel)
    log: dict[int, list[list[int]]] = {}
    for env in evaluator.envs:
        def reset(seed, env=env, reset=env.reset_arrays):
            env.current = log.setdefault(seed, [])
            return reset(seed)

        def step(actions, env=env, step=env.step_arrays):
            env.current.append(np.asarray(actions).tolist())
            return step(actions)
        env.reset_arrays, env.step_arrays = reset, step
    evaluator.run(algorithm)
    evaluator.close()
    return log


def test_an_episode_plays_the_same_whatever_runs_beside_it():
    # Weights scaled up: a policy whose choices depend strongly on its hidden state.
    algorithm = recurrent("bc_discrete", hidden=(32, 32))
    with torch.no_grad():
        for parameter in algorithm.network.parameters():
            parameter.mul_(8.0)
    alone = episode_actions(algorithm, parallel=1)
    assert len({len(actions) for actions in alone.values()}) > 1          # episodes end at different steps
    assert episode_actions(algorithm, parallel=6) == alone
    assert episode_actions(algorithm, parallel=4) == alone                # a wave of 4, then one of 2


def test_a_recurrent_checkpoint_evaluates_to_the_same_episodes(store, tmp_path):
    results = train_run(RunSpec("qmix_cql", "smax-3m/random-v0", seed=0, updates=2, eval_every=2, eval_episodes=3,
                                overrides=("recurrent=true", "batch_size=16"), out_dir=str(tmp_path), store=store,
                                progress=False))
    assert results["config"]["recurrent"] is True and "recurrent=true" in results["label"]
    again = evaluate_checkpoint(next(tmp_path.rglob("seed_0.pt")), episodes=3)
    assert again["returns"] == results["final"]["returns"] and again["win_rate"] == results["final"]["win_rate"]


@pytest.mark.parametrize("name", [name for name in DISCRETE_ALGORITHMS if name not in RECURRENT_ALGORITHMS])
def test_algorithms_without_sequence_losses_refuse_recurrent(name):
    message = "recurrent=true is implemented for bc_discrete, iql_cql, qmix_cql only"
    with pytest.raises(MadataError, match=message) as error:
        build_config(name, "smax-3m/expert-v1", overrides=["recurrent=true"])
    assert "\n" not in str(error.value)
    module = algorithm_module(name)
    with pytest.raises(MadataError, match=message):
        module.Algorithm(module.Config(recurrent=True), SPEC, torch.Generator())
