"""The `madata` command line: the click group, which prints user errors as one line, and the commands it
gathers (madatasets/cli_datasets.py, madatasets/hub/cli.py, and the packages above through entry points)."""

from __future__ import annotations

import errno
import sys
from typing import Any

import click

from madatasets.cli_datasets import COMMANDS as dataset_commands
from madatasets.errors import MadataError
from madatasets.hub.cli import COMMANDS as hub_commands


COMMAND_ENTRY_POINTS = "madata.commands"


class MadataGroup(click.Group):
    """Prints user errors (bad flags, unknown names, bad stores) as one line, exit code 2.

    The packages above madatasets (collectors, baselines) register their commands
    through the `madata.commands` entry-point group (setup.cfg), so this package
    names none of them. They are imported only when one of them is invoked or help
    lists them: they pull in torch, which would otherwise slow every call by seconds.
    """

    _packages_loaded = False

    def _load_package_commands(self) -> None:
        if self._packages_loaded:
            return
        from importlib.metadata import entry_points
        for point in sorted(entry_points(group=COMMAND_ENTRY_POINTS), key=lambda point: point.name):
            for command in point.load():
                self.add_command(command)
        self._packages_loaded = True

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load_package_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_package_commands()
        return super().list_commands(ctx)

    def main(self, args=None, prog_name=None, **kwargs: Any):  # type: ignore[override]
        try:
            return super().main(args=args, prog_name=prog_name or "madata", standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("madata: aborted", err=True)
            sys.exit(130)
        except click.ClickException as error:
            message = error.format_message().replace("\n", " ")
            click.echo(f"madata: error: {message} (see `madata --help`)", err=True)
            sys.exit(2)
        except MadataError as error:
            click.echo(f"madata: error: {error}", err=True)
            sys.exit(2)
        except OSError as error:
            # The one place OS errors on the user's paths (read-only store, a path under a
            # file, a full disk, a missing folder) become a line instead of a traceback.
            click.echo(f"madata: error: {os_error_message(error)}", err=True)
            sys.exit(2)


def os_error_message(error: OSError) -> str:
    """'<what went wrong>: <path>' for an OSError, with a hint for the common cases."""
    reason = error.strerror or str(error) or type(error).__name__
    path = error.filename if error.filename is not None else None
    hints = {errno.ENOSPC: "free some space or choose another location",
             errno.EACCES: "check the permissions or choose another location",
             errno.EROFS: "the file system is read-only; choose another location",
             errno.ENOTDIR: "a part of the path is a file, not a directory",
             errno.ENOENT: "the path does not exist",
             errno.ENAMETOOLONG: "use a shorter path"}
    hint = hints.get(error.errno)
    text = f"{reason}: {path}" if path is not None else reason
    return f"{text} ({hint})" if hint else text


@click.group(cls=MadataGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="madata", prog_name="madata")
def cli() -> None:
    """madata: datasets, baselines and benchmarks for offline multi-agent RL."""


for _command in [*dataset_commands, *hub_commands]:
    cli.add_command(_command)


def main() -> None:
    cli.main()


if __name__ == "__main__":
    main()
