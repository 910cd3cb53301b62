"""Import-only SMAC scenarios: OG-MARL SMAC vaults written here by flashbax itself, imported into
smacv1-3m's shapes (and one into smacv2-terran_5_vs_5's), trained offline; running or evaluating
the scenario is refused in one line. The SMACv1 and SMACv2 widths are pinned against their formulas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import madatasets
from cli_runner import one_line_error, run_cli
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec, make

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SCENARIO = "smacv1-3m"
DATASET_ID = f"imported/og-marl-{SCENARIO}/expert-v0"






def write_smac_vault(vaults: Path, quality: str = "Good", illegal: bool = False, scenario: str = SCENARIO,
                     vault_name: str = "3m.vlt") -> dict:
    """A flashbax vault in OG-MARL's SMAC layout with the scenario's shapes (smacv1-3m unless told):
    30 steps, an episode that ends at step 11, then one that ends at the last step; actions drawn
    from each step's legal actions (a dead agent, agent 2 after step 5, may only no-op, as in SMAC)."""
    import jax.numpy as jnp
    from flashbax.buffers.trajectory_buffer import TrajectoryBufferState
    from flashbax.vault import Vault
    spec = get_spec(scenario)
    steps, n, a = 30, spec.n_agents, spec.act_dim
    rng = np.random.default_rng(5)
    legals = rng.random((steps, n, a)) < 0.5
    legals[:, :, 1] = True                       # stop is legal for a live unit
    legals[:, :, 0] = False                      # no-op only when dead
    legals[6:12, 2] = False
    legals[6:12, 2, 0] = True
    actions = np.array([[rng.choice(np.flatnonzero(legals[t, i])) for i in range(n)] for t in range(steps)])
    if illegal:
        actions[7, 1] = np.flatnonzero(~legals[7, 1])[0]
    terminals = np.zeros((1, steps, n), dtype=bool)
    terminals[0, 11] = True
    terminals[0, steps - 1] = True               # OG-MARL's SMAC wrapper: done at the time limit too
    experience = {
        "observations": jnp.asarray(rng.normal(size=(1, steps, n, spec.obs_dim)), dtype=jnp.float32),
        "actions": jnp.asarray(actions[None], dtype=jnp.int32),
        "rewards": jnp.asarray(np.repeat(rng.random((1, steps, 1)), n, axis=2), dtype=jnp.float32),
        "terminals": jnp.asarray(terminals), "truncations": jnp.zeros((1, steps, n), dtype=bool),
        "infos": {"legals": jnp.asarray(legals[None], dtype=jnp.float32),
                  "state": jnp.asarray(rng.normal(size=(1, steps, spec.state_dim)), dtype=jnp.float32)},
    }
    state = TrajectoryBufferState(experience=experience, current_index=jnp.asarray(steps), is_full=jnp.asarray(False))
    Vault(vault_name=vault_name, experience_structure=experience, rel_dir=str(vaults), vault_uid=quality).write(state)
    return experience


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    pytest.importorskip("flashbax")
    root = tmp_path_factory.mktemp("smac")
    experience = write_smac_vault(root / "vaults", "Good")
    write_smac_vault(root / "vaults", "Medium")
    from madatasets.hub.importers import run_import
    written = list(run_import("og-marl", root / "vaults" / "3m.vlt", root / "store", scenario=SCENARIO,
                              quality="Good"))
    return root, experience, written


def test_smac_shapes_follow_smacs_formulas():
    # SMAC's published sizes (obs, state, actions) for its default options.
    expected = {"smacv1-3m": (30, 48, 9, 60), "smacv1-8m": (80, 168, 14, 120), "smacv1-5m_vs_6m": (55, 98, 12, 70),
                "smacv1-2s3z": (80, 120, 11, 120), "smacv1-3s5z_vs_3s6z": (136, 230, 15, 170)}
    for name, (obs, state, actions, limit) in expected.items():
        spec = get_spec(name)
        assert (spec.obs_dim, spec.state_dim, spec.act_dim, spec.episode_limit) == (obs, state, actions, limit)
        assert spec.discrete and spec.family == "smac" and not spec.simulator
        assert spec.to_dict()["simulator"] is False


def test_smacv2_shapes_follow_smacv2s_formulas_with_og_marls_options():
    # OG-MARL's SMACv2 wrapper: 10gen_terran / 10gen_zerg (smac_maps.py: unit_type_bits 3, limit 200,
    # no shields), capability config n_units = n_enemies (5 or 10), team_gen + start_positions only,
    # obs_own_pos on, conic_fov off; every other option StarCraft2Env's default. Terms from smacv2's
    # starcraft2.py, written out so each number can be followed:
    bits, health, own_pos, move = 3, 1, 2, 4          # type bits; health (no shield); x, y; move feats
    for name, n in (("smacv2-terran_5_vs_5", 5), ("smacv2-zerg_5_vs_5", 5), ("smacv2-terran_10_vs_10", 10)):
        actions = 2 + 4 + n                            # no-op, stop, 4 moves, attack enemy i (n_actions)
        enemy = 4 + bits + health                      # attackable, dist, dx, dy (get_obs_enemy_feats_size)
        ally = 4 + health + bits                       # visible, dist, dx, dy (get_obs_ally_feats_size)
        own = bits + health + own_pos                  # get_obs_own_feats_size (get_cap_size = bits)
        obs = move + n * enemy + (n - 1) * ally + own  # get_obs_size
        # get_state_size: ally health, cooldown, x, y + type bits; enemy health, x, y + type bits;
        # then state_last_action: every ally's one-hot last action.
        state = n * (4 + bits) + n * (3 + bits) + n * actions
        spec = get_spec(name)
        assert (spec.obs_dim, spec.act_dim, spec.state_dim, spec.episode_limit, spec.n_agents) == \
            (obs, actions, state, 200, n)
        assert spec.discrete and spec.family == "smac" and not spec.simulator
    # The same numbers as the array shapes OG-MARL lists for its published SMACv2 vaults
    # (og-marl docs/dataset_cards/datacard_info.json): observations, legals (actions), infos.state.
    published = {"smacv2-terran_5_vs_5": (82, 11, 120), "smacv2-zerg_5_vs_5": (82, 11, 120),
                 "smacv2-terran_10_vs_10": (162, 16, 290)}
    for name, shapes in published.items():
        spec = get_spec(name)
        assert (spec.obs_dim, spec.act_dim, spec.state_dim) == shapes


def test_an_smacv2_vault_imports_into_its_scenario(tmp_path, capsys):
    # OG-MARL's terran_5_vs_5 archive holds Replay and Random vaults (its dataset card).
    pytest.importorskip("flashbax")
    scenario = "smacv2-terran_5_vs_5"
    vaults = tmp_path / "vaults"
    experience = write_smac_vault(vaults, "Replay", scenario=scenario, vault_name="terran_5_vs_5.vlt")
    write_smac_vault(vaults, "Random", scenario=scenario, vault_name="terran_5_vs_5.vlt")
    capsys.readouterr()
    code, out, err = run_cli(capsys, "import", "og-marl", str(vaults / "terran_5_vs_5.vlt"), "--scenario", scenario,
                             "--store", str(tmp_path / "store"))
    assert code == 0, err
    assert sorted(madatasets.Store(tmp_path / "store").list()) == [f"imported/og-marl-{scenario}/medium-replay-v0",
                                                                   f"imported/og-marl-{scenario}/random-v0"]
    dataset = madatasets.load(f"imported/og-marl-{scenario}/medium-replay-v0", tmp_path / "store")
    assert dataset.observations.shape == (30, 5, 82) and dataset.arrays["legal_actions"].shape == (30, 5, 11)
    np.testing.assert_array_equal(dataset.arrays["actions"], np.asarray(experience["actions"][0]))
    np.testing.assert_array_equal(dataset.episode_ends, [12, 30])
    # A vault with another scenario's shapes is refused in one line.
    code, _, err = run_cli(capsys, "import", "og-marl", str(vaults / "terran_5_vs_5.vlt" / "Replay"), "--scenario",
                           "smacv2-terran_10_vs_10", "--store", str(tmp_path / "other"))
    one_line_error(code, err, "scenario smacv2-terran_10_vs_10 expects")
    # Poor and Random both become madata's random tier: a folder with both is refused before writing.
    write_smac_vault(vaults, "Poor", scenario=scenario, vault_name="terran_5_vs_5.vlt")
    code, _, err = run_cli(capsys, "import", "og-marl", str(vaults / "terran_5_vs_5.vlt"), "--scenario", scenario,
                           "--store", str(tmp_path / "third"))
    one_line_error(code, err, f"(Poor, Random) would become imported/og-marl-{scenario}/random-v0")
    assert not madatasets.Store(tmp_path / "third").list()


def test_running_an_import_only_scenario_is_refused_in_one_line(capsys, tmp_path):
    with pytest.raises(MadataError, match="import-only SMAC scenario: StarCraft II is not available"):
        make(SCENARIO)
    code, _, err = run_cli(capsys, "collect", SCENARIO, "--quality", "random", "--env-steps", "10",
                           "--store", str(tmp_path / "store"))
    one_line_error(code, err, "StarCraft II is not available here")
    code, out, _ = run_cli(capsys, "envs")
    assert code == 0 and SCENARIO in out
    assert "smacv2-terran_10_vs_10" in out and "16 (d)(i)" in out


def test_the_importer_converts_a_flashbax_smac_vault(imported):
    root, experience, written = imported
    assert [dataset_id for dataset_id, _ in written] == [DATASET_ID]      # --quality Good picked one vault
    dataset = madatasets.load(DATASET_ID, root / "store")
    arrays = dataset.arrays
    np.testing.assert_array_equal(dataset.episode_ends, [12, 30])
    assert arrays["actions"].dtype == np.int16 and arrays["actions"].shape == (30, 3)
    np.testing.assert_array_equal(arrays["actions"], np.asarray(experience["actions"][0]))
    np.testing.assert_array_equal(arrays["legal_actions"], np.asarray(experience["infos"]["legals"][0]).astype(bool))
    np.testing.assert_array_equal(arrays["final_legal_actions"], arrays["legal_actions"][[11, 29]])
    np.testing.assert_array_equal(dataset.observations, np.asarray(experience["observations"][0]))
    assert dataset.terminations[[11, 29]].all() and not dataset.truncations.any()
    card = dataset.card
    assert card["online_evaluation"] is False and "offline metrics only" in card["usage"]
    assert card["provenance"]["original_quality"] == "Good" and "time-outs are terminations" in \
        card["provenance"]["note"]
    rendered = (root / "store" / "imported" / f"og-marl-{SCENARIO}" / "expert-v0").rglob("DATASET_CARD.md")
    assert any("No online evaluation" in path.read_text() for path in rendered)
    json.dumps(card)


def test_a_vault_with_an_action_its_mask_forbids_is_refused(tmp_path, capsys):
    pytest.importorskip("flashbax")
    write_smac_vault(tmp_path / "vaults", "Good", illegal=True)
    capsys.readouterr()
    code, _, err = run_cli(capsys, "import", "og-marl", str(tmp_path / "vaults" / "3m.vlt"), "--scenario", SCENARIO,
                           "--store", str(tmp_path / "store"))
    one_line_error(code, err, "step 7, agent 1 took action")
    assert not (tmp_path / "store" / "imported" / f"og-marl-{SCENARIO}").exists() or \
        not madatasets.Store(tmp_path / "store").list()
    code, _, err = run_cli(capsys, "import", "og-marl", str(tmp_path / "vaults" / "3m.vlt"), "--scenario", SCENARIO,
                           "--quality", "Replay", "--store", str(tmp_path / "store"))
    one_line_error(code, err, "no Replay vault; found Good")


def test_offline_training_runs_with_online_evaluation_skipped(imported, tmp_path, capsys):
    from baselines.bench import RunSpec, train_run
    from baselines.report import markdown_report
    from baselines.results import load_results
    root, _, _ = imported
    results = train_run(RunSpec("bc_discrete", DATASET_ID, seed=0, updates=4, eval_every=2, eval_episodes=3,
                                overrides=("batch_size=8",), out_dir=str(tmp_path / "results"),
                                store=str(root / "store"), progress=False))
    final = results["final"]
    assert final["mean_return"] is None and final["normalized"] is None and "win_rate" not in final
    assert final["online_evaluation"].startswith("skipped (smacv1-3m is an import-only SMAC scenario")
    assert 0.0 <= final["offline"]["action_agreement"] <= 1.0 and final["offline"]["rows"] == 30
    assert len(results["curve"]) == 2 and all(np.isfinite(v) for v in results["curve"][-1]["losses"].values())
    loaded = load_results([str(tmp_path / "results")])
    assert "action agreement" in markdown_report(loaded)
    # A saved policy of an import-only scenario cannot be evaluated online: one line.
    checkpoint = next((tmp_path / "results").rglob("seed_0.pt"))
    code, _, err = run_cli(capsys, "evaluate", str(checkpoint), "--episodes", "2")
    one_line_error(code, err, "StarCraft II is not available here")


@pytest.mark.parametrize("name", ["iql_cql", "qmix_cql", "omar_discrete", "mabcq_discrete"])
def test_discrete_algorithms_train_on_imported_smac_data(imported, name):
    from baselines.algorithms import algorithm_module
    from baselines.core.discrete import DiscreteReplay
    root, _, _ = imported
    replay = DiscreteReplay(madatasets.load(DATASET_ID, root / "store"))
    module = algorithm_module(name)
    values = {"generative_updates": 5} if name == "mabcq_discrete" else {}
    algorithm = module.Algorithm(module.Config(batch_size=8, **values), get_spec(SCENARIO),
                                 torch.Generator().manual_seed(0), replay.observation_statistics())
    generator = torch.Generator().manual_seed(1)
    algorithm.pretrain(replay, generator)
    for _ in range(3):
        losses = algorithm.update(replay.sample(8, generator))
        assert losses and all(np.isfinite(v) for v in losses.values())
