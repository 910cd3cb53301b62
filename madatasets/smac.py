"""SMAC (StarCraft II) maps as import-only scenarios: the shapes of published SMAC data, no simulator.

StarCraft II cannot be installed here, so these scenarios exist only to give imported
SMAC datasets (OG-MARL's vaults: `madata import og-marl PATH --scenario smacv1-3m`) a
spec with the right shapes. `make()` refuses them in one line, and the harness trains
on their data with online evaluation skipped (docs/smax.md, "Import-only SMAC").

The shapes follow SMAC's own formulas with its default options (obs_all_health,
obs_own_health, state_last_action on; obs_last_action, obs_pathing_grid,
obs_terrain_height, obs_timestep_number, state_timestep_number off), which is how
OG-MARL's SMACv1 wrapper creates `StarCraft2Env(map_name=...)`. Source:
oxwhirl/smac, smac/env/starcraft2/starcraft2.py (`get_obs_size`, `get_state_size`,
`n_actions = 6 + n_enemies`) and smac/env/starcraft2/maps/smac_maps.py (agents,
enemies, episode limit, unit types and races per map).
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


# madata scenario -> SMAC map (smac_maps.py). These are the SMACv1 maps OG-MARL publishes
# vaults for; SMACv2 maps (capability configs, unit ranges, own positions) are not here
# because their feature widths depend on options we could not check against an SMACv2 install.
SMAC_MAPS: dict[str, SmacMap] = {
    "smacv1-3m": SmacMap("3m", 3, 3, 60, 0, False, False, "3 marines vs 3 marines"),
    "smacv1-8m": SmacMap("8m", 8, 8, 120, 0, False, False, "8 marines vs 8 marines"),
    "smacv1-5m_vs_6m": SmacMap("5m_vs_6m", 5, 6, 70, 0, False, False, "5 marines vs 6 marines"),
    "smacv1-2s3z": SmacMap("2s3z", 5, 5, 120, 2, True, True, "2 stalkers and 3 zealots vs the same"),
    "smacv1-3s5z_vs_3s6z": SmacMap("3s5z_vs_3s6z", 8, 9, 170, 2, True, True,
                                   "3 stalkers and 5 zealots vs 3 stalkers and 6 zealots"),
}
SMAC_PACKAGES: tuple[str, ...] = ()   # nothing to run: the data was recorded on StarCraft II elsewhere


def no_simulator_message(scenario: str) -> str:
    """The one line every refusal to run an import-only SMAC scenario uses."""
    return (f"{scenario} is an import-only SMAC scenario: StarCraft II is not available here, so it cannot be "
            f"run or evaluated online; its datasets are for training and offline metrics only (docs/smax.md)")
