"""Finding a dataset on the configured remotes: the first whose index has it wins."""

from __future__ import annotations

from typing import Any, Sequence

from madatasets.errors import MadataError
from madatasets.hub.config import configured_remotes
from madatasets.hub.index import select
from madatasets.hub.remote import Remote
from madatasets.hub.remotes import open_remote


def find(dataset_id: str, prefix: str | None, remotes: Sequence[str] = ()) -> tuple[Remote, dict[str, Any]]:
    """(remote, entry) of the first remote listing the id (and revision); mirrors that
    cannot be reached are skipped while another one can answer."""
    urls = configured_remotes(remotes)
    failures: list[str] = []
    for url in urls:
        try:
            remote = open_remote(url)
            entry = select(remote.index(), dataset_id, prefix)
        except MadataError as error:
            failures.append(str(error))
            continue
        if entry is not None:
            return remote, entry
    wanted = dataset_id + (f"@{prefix}" if prefix else "")
    if failures and len(failures) == len(urls):
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise MadataError(f"{failures[0]}{more}")
    raise MadataError(f"{wanted} is not on {'any of the remotes ' if len(urls) > 1 else 'the remote '}"
                      f"{', '.join(urls)}; see `madata list --remote URL`"
                      + (f" ({len(failures)} could not be read: {failures[0]})" if failures else ""))
