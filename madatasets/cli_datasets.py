"""The `madata` commands that read the scenario registry and the store: `envs`, `list`, `gc`, `info`,
`verify`, `stats` and `export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from madatasets.cli_options import existing_store, store_option
from madatasets.errors import MadataError
from madatasets.hub.remote_store import is_url
from madatasets.scenarios import get_spec, scenario_names
from madatasets.store import Store


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the specs as JSON.")
def envs(as_json: bool) -> None:
    """List the registered scenarios and their shapes."""
    specs = [get_spec(name).to_dict() | {"reference_scores": get_spec(name).reference_scores}
             for name in scenario_names()]
    if as_json:
        click.echo(json.dumps(specs, indent=2))
        return
    width = max(16, *(len(spec["name"]) for spec in specs))
    click.echo(f"{'scenario':<{width}} {'ver':>3} {'agents':>6} {'obs':>10} {'act':>9} {'state':>5} {'limit':>5}  "
               f"{'random':>9} {'expert':>9}")
    for spec in specs:
        refs = spec["reference_scores"]
        obs = "/".join(map(str, sorted(set(spec["obs_sizes"]))))
        act = "/".join(map(str, sorted(set(spec["act_sizes"]))))
        if spec.get("action_kind") == "discrete":
            act = f"{act} (d)"      # discrete choices with legal-action masks (SMAX)
        if spec.get("simulator") is False:
            act = f"{act}(i)"       # import-only: no simulator here (SMAC)
        click.echo(f"{spec['name']:<{width}} {spec['version']:>3} {len(spec['agents']):>6} {obs:>10} {act:>9} "
                   f"{spec['state_dim']:>5} {spec['episode_limit']:>5}  "
                   f"{refs.get('random', float('nan')):>9.2f} {refs.get('expert', float('nan')):>9.2f}")
    if any(spec.get("action_kind") == "discrete" for spec in specs):
        click.echo("(d): discrete actions with legal-action masks (docs/smax.md)")
    if any(spec.get("simulator") is False for spec in specs):
        click.echo("(i): import-only, no simulator here: for imported datasets, training and offline metrics only")


@click.command(name="list")
@store_option
@click.option("--markdown", is_flag=True,
              help="A markdown table with returns, normalized score, bytes on disk and the command of each dataset.")
@click.option("--remote", "remotes", multiple=True, is_flag=False, flag_value="", metavar="[URL]",
              help="List a remote's datasets instead (repeatable; alone: $MADATA_REMOTE or the config file).")
def list_command(store_path: str | None, markdown: bool, remotes: tuple[str, ...]) -> None:
    """List the datasets in the store (or on remotes, with --remote)."""
    if remotes:
        from madatasets.hub.cli import list_remote
        list_remote(remotes, None if is_url(store_path) else store_path)
        return
    store = existing_store(store_path)
    ids = store.list()
    damaged: list[str] = []
    if not ids:
        click.echo(f"no datasets in {store.root}")
        return
    if markdown:
        click.echo("| dataset | steps | episodes (complete) | mean +- std return | normalized | win rate (SMAX) | "
                   "bytes on disk | command |")
        click.echo("|---|---|---|---|---|---|---|---|")
        for dataset_id in ids:
            card = _card_or_none(store, dataset_id, damaged)
            if card is None:
                continue
            returns = card["returns"]
            normalized, wins = card.get("normalized_return_mean"), card.get("win_rate")
            click.echo(f"| {dataset_id} | {card['total_steps']:,} | {card['total_episodes']:,} "
                       f"({returns['episodes']:,}) | {returns['mean']:.2f} +- {returns['std']:.2f} | "
                       f"{'-' if normalized is None else f'{normalized:.1f}'} | "
                       f"{'-' if wins is None else f'{wins:.3f}'} | {store.disk_bytes(dataset_id):,} | "
                       f"`{card['command']}` |")
        _report_damaged(damaged)
        return
    width = max([36] + [len(dataset_id) for dataset_id in ids])     # imported/ ids run longer
    click.echo(f"{'id':<{width}} {'steps':>9} {'episodes':>8} {'mean return':>12}")
    for dataset_id in ids:
        card = _card_or_none(store, dataset_id, damaged)
        if card is not None:
            click.echo(f"{dataset_id:<{width}} {card['total_steps']:>9} {card['total_episodes']:>8} "
                       f"{card['returns']['mean']:>12.3f}")
    _report_damaged(damaged)


def _card_or_none(store: Store, dataset_id: str, damaged: list[str]) -> dict[str, Any] | None:
    """The card, or None (noted in `damaged`): one damaged dataset does not hide the others."""
    from madatasets.errors import ChecksumError
    try:
        return store.card(dataset_id)
    except ChecksumError as error:
        damaged.append(str(error))
        return None


def _report_damaged(damaged: list[str]) -> None:
    if damaged:
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise MadataError(f"{damaged[0]}{more}")


@click.command()
@store_option
def gc(store_path: str | None) -> None:
    """Remove superseded dataset versions and what killed writers left behind.

    Ids being written and versions being read are left alone; run it again later.
    """
    store = existing_store(store_path)
    removed = store.gc()
    click.echo(f"removed {len(removed)} superseded or orphaned entr{'y' if len(removed) == 1 else 'ies'} "
               f"from {store.root}")
    for path in removed:
        click.echo(f"  {path}")


@click.command()
@click.argument("dataset_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON instead of markdown.")
@store_option
def info(dataset_id: str, as_json: bool, store_path: str | None) -> None:
    """Print the dataset card of ID."""
    from madatasets.cards import render_card_markdown
    card = existing_store(store_path).card(dataset_id)
    click.echo(json.dumps(card, indent=2) if as_json else render_card_markdown(card))


@click.command()
@click.argument("dataset_ids", metavar="ID...", nargs=-1, required=True)
@store_option
def verify(dataset_ids: tuple[str, ...], store_path: str | None) -> None:
    """Recompute every array checksum of each ID; exit non-zero on the first mismatch."""
    store = existing_store(store_path)
    for dataset_id in dataset_ids:
        checksums = store.verify(dataset_id)
        click.echo(f"ok {dataset_id}: {len(checksums)} arrays match their checksums")


@click.command()
@click.argument("dataset_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Write episode-return histograms to this PNG file.")
@click.option("--bins", type=click.IntRange(min=2, max=100), default=10, show_default=True,
              help="Bins per action dimension for the coverage measure.")
@store_option
def stats(dataset_ids: tuple[str, ...], plot: str | None, bins: int, store_path: str | None) -> None:
    """Return distribution and per-agent action coverage of one or more datasets."""
    from madatasets.dataset import load
    from madatasets.stats import action_coverage, plot_returns, summary
    store = existing_store(store_path)
    if plot and not plot.lower().endswith(".png"):
        raise MadataError(f"--plot must name a .png file, got {plot!r}")
    if plot and not Path(plot).absolute().parent.is_dir():
        raise MadataError(f"--plot {plot!r}: folder {Path(plot).absolute().parent} does not exist; create it first")
    loaded = [load(dataset_id, store) for dataset_id in dataset_ids]
    click.echo(f"{'id':<36} {'episodes':>8} {'mean':>10} {'std':>9} {'min':>10} {'median':>10} {'max':>10} "
               f"{'normalized':>10}")
    for dataset in loaded:
        row = summary(dataset)
        click.echo(f"{dataset.id:<36} {row['episodes']:>8} {row['mean']:>10.3f} {row['std']:>9.3f} "
                   f"{row['min']:>10.3f} {row['median']:>10.3f} {row['max']:>10.3f} {row['normalized']:>10}")
    click.echo("")
    click.echo(f"action coverage (fraction of {bins} bins per action dimension visited, mean over dimensions):")
    for dataset in loaded:
        coverage = action_coverage(dataset, bins)
        click.echo(f"  {dataset.id:<36} " + "  ".join(f"agent {i}: {c:.2f}" for i, c in enumerate(coverage)))
    if plot:
        plot_returns(loaded, plot)
        click.echo(f"wrote {plot}")


@click.command()
@click.argument("dataset_id", metavar="ID")
@click.option("--format", "export_format", type=click.Choice(["hdf5", "minari"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="HDF5 file to write (hdf5 format).")
@click.option("--agent", "agents", type=click.IntRange(min=0), multiple=True,
              help="Agent index to export (minari format; repeatable; default all agents).")
@click.option("--observation", type=click.Choice(["local", "state"]), default="local", show_default=True,
              help="What a Minari agent dataset observes: its own observation or the global state.")
@click.option("--minari-root", type=click.Path(file_okay=False), default=None,
              help="Minari datasets directory (default: $MINARI_DATASETS_PATH or ~/.minari/datasets).")
@click.option("--overwrite", is_flag=True)
@store_option
def export(dataset_id: str, export_format: str, out: str | None, agents: tuple[int, ...], observation: str,
           minari_root: str | None, overwrite: bool, store_path: str | None) -> None:
    """Export ID to an HDF5 file, or to one Minari dataset per agent."""
    from madatasets.dataset import load
    from madatasets.export import export_hdf5, export_minari
    store = existing_store(store_path)
    if export_format == "hdf5" and not out:
        raise MadataError("--format hdf5 needs --out FILE.h5")
    dataset = load(dataset_id, store)
    if export_format == "hdf5":
        click.echo(f"wrote {export_hdf5(dataset, out, overwrite=overwrite)}")
        return
    for agent in agents:
        if agent >= dataset.n_agents:
            raise MadataError(f"--agent {agent} out of range; {dataset_id} has agents 0..{dataset.n_agents - 1}")
    for agent in agents or range(dataset.n_agents):
        click.echo(f"wrote Minari dataset {export_minari(dataset, agent, observation, minari_root, overwrite)}")



COMMANDS = [envs, list_command, gc, info, verify, stats, export]
