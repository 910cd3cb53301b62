"""The hub's commands: `madata publish`, `madata download`, `madata import` and the
remote table of `madata list --remote`."""

from __future__ import annotations

from typing import Sequence

import click

from madatasets.cli_options import store_option
from madatasets.errors import MadataError


def _size(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def list_remote(remotes: Sequence[str], store_path: str | None) -> None:
    """The table of `madata list --remote`: every id of every remote, first remote first."""
    from madatasets.hub.config import configured_remotes
    from madatasets.hub.remotes import open_remote
    from madatasets.integrity import card_digest
    from madatasets.store import Store, parse_id
    urls = configured_remotes([url for url in remotes if url])
    local = Store(store_path)
    rows, seen, failures = [], set(), []
    for url in urls:
        try:
            index = open_remote(url).index()
        except MadataError as error:
            failures.append(str(error))
            continue
        for entry in sorted(index["datasets"], key=lambda e: (e["id"], e["published"])):
            key = (entry["id"], entry["card_sha256"])
            if key in seen:
                continue        # a mirror listing the same revision: the first remote wins
            seen.add(key)
            installed = "no"
            if local.exists and local.has(parse_id(entry["id"])):
                try:
                    same = card_digest(local.card(entry["id"])) == entry["card_sha256"]
                    installed = "yes" if same else "other"
                except MadataError:
                    installed = "damaged"
            card = entry["card"]
            rows.append((entry["id"] + "@" + entry["card_sha256"][:8], card["quality"], card["total_steps"],
                         _size(entry["total_bytes"]), card["returns"].get("mean", float("nan")), installed, url))
    if failures and len(failures) == len(urls):
        raise MadataError(failures[0])
    if not rows:
        click.echo(f"no datasets on {', '.join(urls)}")
    else:
        width = max([44] + [len(row[0]) for row in rows])
        click.echo(f"{'id@revision':<{width}} {'tier':<13} {'steps':>9} {'size':>10} {'mean return':>12} "
                   f"{'local':>7}" + ("  remote" if len(urls) > 1 else ""))
        for name, tier, steps, size, mean, installed, url in rows:
            click.echo(f"{name:<{width}} {tier:<13} {steps:>9} {size:>10} {mean:>12.3f} {installed:>7}"
                       + (f"  {url}" if len(urls) > 1 else ""))
    for failure in failures:
        click.echo(f"madata: warning: {failure}", err=True)




@click.command()
@click.argument("dataset_id", metavar="ID")
@click.option("--to", "to", required=True, metavar="URL",
              help="The remote: a folder, file://, or s3://bucket/prefix.")
@click.option("--dry-run", is_flag=True, help="Print what would be uploaded and whether the index would change.")
@store_option
def publish(dataset_id: str, to: str, dry_run: bool, store_path: str | None) -> None:
    """Upload ID's files to a remote and add its entry to the remote's index.json."""
    from madatasets.hub.publish import publish as run
    report = run(dataset_id, to, store_path, dry_run=dry_run)
    revision = f"{report.dataset_id}@{report.card_sha256[:12]}"
    uploaded = sum(f["size"] for f in report.entry["files"] if f["path"] in report.uploads)
    if dry_run:
        click.echo(f"would upload {len(report.uploads)} of {len(report.entry['files'])} files "
                   f"({_size(uploaded)}) to {report.remote}")
        click.echo(f"would {'add' if report.index_changed else 'leave'} {revision} "
                   f"{'to' if report.index_changed else 'in'} {report.remote}/index.json"
                   + ("" if report.index_changed else " (already there)"))
        return
    if not report.uploads and not report.index_changed:
        click.echo(f"{revision} is already published on {report.remote}; nothing changed")
        return
    click.echo(f"published {revision}: {len(report.uploads)} files uploaded ({_size(uploaded)}), "
               f"index {'updated' if report.index_changed else 'unchanged'} -> {report.remote}")


@click.command()
@click.argument("spec", metavar="ID[@SHA256-PREFIX]")
@click.option("--remote", "remotes", multiple=True, metavar="URL",
              help="Remote to fetch from (repeatable, tried in order; default: $MADATA_REMOTE or the config file).")
@click.option("--overwrite", is_flag=True, help="Replace a different revision of ID already in the store.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@store_option
def download(spec: str, remotes: tuple[str, ...], overwrite: bool, quiet: bool, store_path: str | None) -> None:
    """Fetch a published dataset into the store, verified, resumable, atomic."""
    from madatasets.hub.sources import download_from_source, source_of
    if source_of(spec) is not None:
        click.echo(download_from_source(spec, store_path, overwrite=overwrite, progress=not quiet))
        return
    from madatasets.hub.download import download as run
    result = run(spec, store_path, remotes, overwrite=overwrite, progress=not quiet)
    revision = f"{result.dataset_id}@{result.card_sha256[:12]}"
    if not result.installed:
        click.echo(f"{revision} is already in the store with the same checksums; nothing downloaded")
    else:
        click.echo(f"downloaded {revision} from {result.remote}: {result.files} files, {_size(result.bytes)}, "
                   f"every sha256 checked -> {result.path}")


@click.command(name="import")
@click.argument("source", metavar="SOURCE")
@click.argument("path", type=click.Path(exists=True))
@click.option("--scenario", default=None, help="The madata scenario whose shapes the data has (see `madata envs`).")
@click.option("--quality", default=None, help="Quality tier (default: from the source's folder names or "
                                                "dataset id).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier import with the same id.")
@store_option
def import_command(source: str, path: str, scenario: str | None, quality: str | None, overwrite: bool,
                   store_path: str | None) -> None:
    """Convert another project's published dataset at PATH (folder or archive) into the store
    under imported/; SOURCE is a registered importer: omar, og-marl, minari (docs/hub.md)."""
    from madatasets.hub.importers import run_import
    for dataset_id, card in run_import(source, path, store_path, scenario=scenario, quality=quality,
                                       overwrite=overwrite):
        click.echo(f"imported {dataset_id}: {card['total_steps']} steps, {card['total_episodes']} episodes, "
                   f"mean return {card['returns']['mean']:.3f} (source: {source})")
        if card.get("provenance", {}).get("warning"):
            # A conversion that had to lose something (docs/hub.md): said here, not only on the card.
            click.echo(f"madata: warning: {dataset_id}: {card['provenance']['warning']}", err=True)


COMMANDS = [publish, download, import_command]
