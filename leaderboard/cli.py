"""`madata` subcommands contributed by the `leaderboard` package.

Every click command in COMMANDS is added to the top-level `madata` group.
"""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
