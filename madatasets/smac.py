"""SMAC (StarCraft II) maps as import-only scenarios: the shapes of published SMAC data, no simulator.

StarCraft II cannot be installed here, so these scenarios exist only to give imported
SMAC datasets (OG-MARL's vaults: `madata import og-marl PATH --scenario smacv1-3m`) a
spec with the right shapes. `make()` refuses them in one line, and the harness trains
on their data with online evaluation skipped (docs/smax.md, "Import-only SMAC").

SMACv1 (`smacv1-*`): the shapes follow SMAC's own formulas with its default options
(obs_all_health, obs_own_health, state_last_action on; obs_last_action,
obs_pathing_grid, obs_terrain_height, obs_timestep_number, state_timestep_number off),
which is how OG-MARL's SMACv1 wrapper creates `StarCraft2Env(map_name=...)`. Source:
oxwhirl/smac, smac/env/starcraft2/starcraft2.py (`get_obs_size`, `get_state_size`,
`n_actions = 6 + n_enemies`) and smac/env/starcraft2/maps/smac_maps.py (agents,
enemies, episode limit, unit types and races per map).

SMACv2 (`smacv2-*`): the three scenarios OG-MARL publishes vaults for (terran_5_vs_5,
zerg_5_vs_5, terran_10_vs_10). OG-MARL's wrapper (instadeepai/og-marl,
og_marl/wrapped_environments/smacv2.py) builds smacv2's `StarCraftCapabilityEnvWrapper`
on map 10gen_terran or 10gen_zerg with a capability config of n_units, n_enemies,
team_gen (weighted_teams, observe True) and start_positions (surrounded_and_reflect)
only, and passes conic_fov=False, obs_own_pos=True, use_unit_ranges=True,
min_attack_range=2; everything else is StarCraft2Env's default (the same observation
and state defaults as SMACv1 above, fully_observable off, action_mask on). Widths from
oxwhirl/smacv2, smacv2/env/starcraft2/starcraft2.py: `get_obs_move_feats_size`,
`get_obs_enemy_feats_size`, `get_obs_ally_feats_size` with
`get_obs_ally_capability_size`, `get_obs_own_feats_size` with `get_cap_size`,
`get_obs_size`, `get_state_size` with `get_ally_num_attributes` /
`get_enemy_num_attributes` (the attribute-name lists built in `__init__`), and
`n_actions` in `__init__`; map sizes from smacv2/env/starcraft2/maps/smac_maps.py
(10gen_*: unit_type_bits 3, limit 200, same race on both sides). The capability
config's n_units / n_enemies replace the map's 10 vs 10. The resulting widths equal
the array shapes OG-MARL lists for those vaults (docs/dataset_cards/datacard_info.json).
Widths not affected: use_unit_ranges and min_attack_range (they change range values,
not features), start positions, and team_gen's `observe` (unobserved ally types are
zero-padded to the same width).
"""

from __future__ import annotations

from dataclasses import dataclass

MOVE_FEATURES = 4             # can move north/south/east/west
MOVE_ACTIONS = 6              # no-op (dead units only), stop, 4 moves; then attack enemy i at 6 + i
NO_OP, STOP = 0, 1


@dataclass(frozen=True)
class SmacMap:
    """One map of smac_maps.py: sizes, limit, and what decides the feature widths."""

    map_name: str
    allies: int
    enemies: int
    episode_limit: int
    unit_type_bits: int        # 0 on single-type maps; 2 on stalkers_and_zealots maps
    ally_protoss: bool         # Protoss units carry shields: one more feature per unit
    enemy_protoss: bool
    description: str

    def shapes(self) -> tuple[int, int, int]:
        """(observation, actions, state) sizes by SMAC's get_obs_size / n_actions / get_state_size."""
        shield_ally, shield_enemy = int(self.ally_protoss), int(self.enemy_protoss)
        # Per enemy: attackable, distance, relative x, y, then health (+ shield), then the type bits.
        enemy_obs = 4 + self.unit_type_bits + 1 + shield_enemy
        # Per other ally: visible, distance, relative x, y, health (+ shield), type bits.
        ally_obs = 4 + self.unit_type_bits + 1 + shield_ally
        own = self.unit_type_bits + 1 + shield_ally
        obs = MOVE_FEATURES + self.enemies * enemy_obs + (self.allies - 1) * ally_obs + own
        actions = MOVE_ACTIONS + self.enemies
        # State: per ally health, cooldown, relative x, y (+ shield) + type bits; per enemy health,
        # relative x, y (+ shield) + type bits; then every ally's last action (one-hot).
        ally_state = 4 + shield_ally + self.unit_type_bits
        enemy_state = 3 + shield_enemy + self.unit_type_bits
        state = self.allies * ally_state + self.enemies * enemy_state + self.allies * actions
        return obs, actions, state


# SMACv2's 10gen_* maps: one type bit per unit type of the race (smac_maps.py), both teams one race.
SMACV2_UNIT_TYPE_BITS = 3
OWN_POSITION_FEATURES = 2     # obs_own_pos=True: own x / map_x and y / map_y in the own features


@dataclass(frozen=True)
class Smacv2Map:
    """One SMACv2 scenario as OG-MARL creates it: a 10gen_* map with a team_gen capability config.

    Only the options OG-MARL uses are modelled (module docstring); any other option (conic_fov,
    stochastic attack or health, obs_last_action, ...) would change the widths and is not covered."""

    map_name: str              # smac_maps.py map: 10gen_terran, 10gen_zerg
    allies: int                # capability_config n_units
    enemies: int               # capability_config n_enemies
    race: str                  # "T" or "Z" (both teams); "P" would add a shield feature per unit
    unit_types: tuple[str, ...]  # team_gen unit_types (what the type bits stand for)
    episode_limit: int         # smac_maps.py limit of the 10gen_* maps
    description: str

    def shapes(self) -> tuple[int, int, int]:
        """(observation, actions, state) sizes by smacv2's get_obs_size / n_actions / get_state_size."""
        bits = SMACV2_UNIT_TYPE_BITS
        shield = int(self.race == "P")
        # n_actions: no-op, stop, 4 moves (no field-of-view turns: conic_fov off), then one attack per
        # enemy; on a terran_gen map (10gen_terran) with more allies than enemies there is one target
        # slot per ally instead (medivacs heal allies), which none of OG-MARL's scenarios has.
        targets = self.allies if self.map_name == "10gen_terran" and self.allies > self.enemies else self.enemies
        actions = MOVE_ACTIONS + targets
        # Per enemy: attackable, distance, relative x, y, health (+ shield), type bits.
        enemy_obs = 4 + bits + 1 + shield
        # Per other ally: visible, distance, relative x, y, health (+ shield), capability = type bits
        # (no stochastic attack or health in the config, so no extra capability features).
        ally_obs = 4 + 1 + shield + bits
        # Own: capability (type bits), health (+ shield), own position.
        own = bits + 1 + shield + OWN_POSITION_FEATURES
        obs = MOVE_FEATURES + self.enemies * enemy_obs + (self.allies - 1) * ally_obs + own
        # State: per ally health, cooldown, relative x, y (+ shield) + type bits; per enemy health,
        # relative x, y (+ shield) + type bits; then every ally's last action (state_last_action on).
        ally_state = 4 + shield + bits
        enemy_state = 3 + shield + bits
        state = self.allies * ally_state + self.enemies * enemy_state + self.allies * actions
        return obs, actions, state


_TERRAN = ("marine", "marauder", "medivac")
_ZERG = ("zergling", "baneling", "hydralisk")

# madata scenario -> SMAC map (smac_maps.py). These are the SMACv1 maps and the SMACv2 scenarios
# OG-MARL publishes vaults for. OG-MARL has no protoss SMACv2 configuration or vault, so there is
# no smacv2-protoss scenario: its options would be a guess.
SMAC_MAPS: dict[str, SmacMap | Smacv2Map] = {
    "smacv1-3m": SmacMap("3m", 3, 3, 60, 0, False, False, "3 marines vs 3 marines"),
    "smacv1-8m": SmacMap("8m", 8, 8, 120, 0, False, False, "8 marines vs 8 marines"),
    "smacv1-5m_vs_6m": SmacMap("5m_vs_6m", 5, 6, 70, 0, False, False, "5 marines vs 6 marines"),
    "smacv1-2s3z": SmacMap("2s3z", 5, 5, 120, 2, True, True, "2 stalkers and 3 zealots vs the same"),
    "smacv1-3s5z_vs_3s6z": SmacMap("3s5z_vs_3s6z", 8, 9, 170, 2, True, True,
                                   "3 stalkers and 5 zealots vs 3 stalkers and 6 zealots"),
    "smacv2-terran_5_vs_5": Smacv2Map("10gen_terran", 5, 5, "T", _TERRAN, 200,
                                      "OG-MARL's SMACv2 terran_5_vs_5, 5 vs 5 random marine/marauder/medivac "
                                      "teams, surrounded or reflected starts, own positions and unit ranges"),
    "smacv2-zerg_5_vs_5": Smacv2Map("10gen_zerg", 5, 5, "Z", _ZERG, 200,
                                    "OG-MARL's SMACv2 zerg_5_vs_5, 5 vs 5 random zergling/baneling/hydralisk "
                                    "teams, surrounded or reflected starts, own positions and unit ranges"),
    "smacv2-terran_10_vs_10": Smacv2Map("10gen_terran", 10, 10, "T", _TERRAN, 200,
                                        "OG-MARL's SMACv2 terran_10_vs_10, 10 vs 10 random marine/marauder/"
                                        "medivac teams, surrounded or reflected starts, own positions and unit "
                                        "ranges"),
}
SMAC_PACKAGES: tuple[str, ...] = ()   # nothing to run: the data was recorded on StarCraft II elsewhere


def no_simulator_message(scenario: str) -> str:
    """The one line every refusal to run an import-only SMAC scenario uses."""
    return (f"{scenario} is an import-only SMAC scenario: StarCraft II is not available here, so it cannot be "
            f"run or evaluated online; its datasets are for training and offline metrics only (docs/smax.md)")
