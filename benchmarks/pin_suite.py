"""Pin a suite's datasets: collect what the store lacks, write each card's checksums into the suite.

    python benchmarks/pin_suite.py smax --store /data/madata-store

Gets every dataset of the packaged suite NAME exactly as `madata bench --suite NAME` would
(downloaded from a configured remote, else collected with the suite's steps and seed), then
writes each card's checksums and its random/expert reference scores into
baselines/suites/NAME.json (staged and renamed into place, so an interrupted run leaves the
old file). From then on `madata bench` refuses a store copy that differs, and the
leaderboard accepts submissions to the suite (docs/suites.md). Collection is seeded and
byte-identical, so anyone re-running this on the same code gets the same pins.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from baselines.suite_bench import ensure_datasets
from baselines.suites import SUITE_DIR, load_suite, suite_names
from madatasets.errors import MadataError
from madatasets.store import Store


def pinned_suite(name: str, store_path: str | None) -> dict:
    """The suite file's JSON with every dataset's card checksums and reference scores filled in."""
    if name not in suite_names():    # the pins go into the package's own file, never a file elsewhere
        raise MadataError(f"{name!r} is not a packaged suite; valid: {', '.join(suite_names())}")
    suite = load_suite(name)
    ids = [entry.id for entry in suite.datasets]
    ensure_datasets(suite, ids, store_path, echo=lambda line: print(line, flush=True))
    store = Store(store_path)
    document = json.loads((SUITE_DIR / f"{name}.json").read_text())
    for entry in document["datasets"]:
        card = store.card(entry["id"])
        entry["collect_seed"] = entry.get("collect_seed", 0)
        entry["checksums"] = dict(card["checksums"])
        references = card.get("reference_scores", {})
        entry["reference_scores"] = {key: float(references[key]) for key in ("random", "expert") if key in references}
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", help="a packaged suite name (baselines/suites/NAME.json)")
    parser.add_argument("--store", default=None, help="store to read and collect into (default: the default store)")
    args = parser.parse_args()
    try:
        document = pinned_suite(args.suite, args.store)
    except MadataError as error:
        parser.exit(2, f"pin_suite.py: error: {error}\n")
    target = SUITE_DIR / f"{args.suite}.json"
    staging = target.with_suffix(".json.tmp")
    staging.write_text(json.dumps(document, indent=1) + "\n")
    os.replace(staging, target)
    print(f"pinned {len(document['datasets'])} datasets of suite {args.suite} in {Path(target)}")


if __name__ == "__main__":
    main()
