"""What the `madata` commands of every package share: the --store option, the store of a read
command, and the warning line of a deprecated flag."""

from __future__ import annotations

import click

from madatasets.errors import MadataError
from madatasets.store import Store


def deprecated(message: str) -> None:
    """A flag of the previous release still works for one more, with this line on stderr."""
    click.echo(f"madata: deprecated: {message}", err=True)


store_option = click.option("--store", "store_path", type=click.Path(file_okay=False), default=None,
                            help="Store directory (default: $MADATA_HOME or ./madata-store).")


def existing_store(store_path: str | None) -> Store:
    """The store of a read command: a path that does not exist is a mistake, not an empty store.
    An object-store URL (s3://bucket/prefix) is a read-only remote store (docs/hub.md)."""
    from madatasets.hub.remote_store import RemoteStore, is_url
    if is_url(store_path):
        return RemoteStore(store_path)  # type: ignore[return-value]
    store = Store(store_path)
    if not store.exists:
        raise MadataError(f"no madata store at {store.root}; create one with `madata collect` or pass --store")
    return store
