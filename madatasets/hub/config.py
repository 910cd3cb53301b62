"""Which remotes to use: `--remote URL` (repeatable), else `$MADATA_REMOTE` (URLs separated
by whitespace), else the `remotes` list of the config file (`$MADATA_CONFIG`, default
`~/.config/madata/config.json`). Several remotes are mirrors tried in order: the first
whose index has the id wins."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from madatasets.errors import MadataError


def config_path() -> Path:
    return Path(os.environ.get("MADATA_CONFIG") or Path.home() / ".config" / "madata" / "config.json")


def configured_remotes(explicit: Sequence[str] = ()) -> list[str]:
    """The remotes to try, in order; MadataError when none is configured."""
    remotes = [url for url in explicit if url]
    if not remotes:
        remotes = os.environ.get("MADATA_REMOTE", "").split()
    if not remotes:
        path = config_path()
        if path.is_file():
            try:
                listed = json.loads(path.read_text()).get("remotes", [])
            except (OSError, ValueError, AttributeError) as error:
                raise MadataError(f"config file {path} is unreadable ({error}); expected "
                                  f'{{"remotes": ["URL", ...]}}') from None
            if not isinstance(listed, list) or not all(isinstance(url, str) for url in listed):
                raise MadataError(f'config file {path}: "remotes" must be a list of URLs')
            remotes = listed
    if not remotes:
        raise MadataError("no remote configured; pass --remote URL, set $MADATA_REMOTE, or list "
                          f'{{"remotes": [...]}} in {config_path()}')
    return remotes
