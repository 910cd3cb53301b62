"""Collect a fixed set of small continuous datasets and write their cards, to compare two trees.

    cd OLD_TREE && PYTHONPATH=. python /path/to/benchmarks/compare_collections.py /tmp/old
    cd NEW_TREE && python benchmarks/compare_collections.py /tmp/new
    python benchmarks/compare_collections.py --diff /tmp/old.json /tmp/new.json

Each run collects into the store ROOT and writes ROOT.json (every card); `--diff` reports,
per dataset, whether the cards are identical apart from `created` and `command`
(checksums and their order included). Collection is seeded, so a change that should not
alter the data must print "identical" on every row.
"""

from __future__ import annotations

import argparse
import json
import sys

JOBS = [("mpe-spread-3", "random", 3000), ("mpe-spread-3", "medium", 3000), ("mpe-spread-3", "expert", 2990),
        ("mpe-spread-3", "medium-expert", 3001), ("mpe-spread-3", "mixed", 1000),
        ("hopper-3x1", "mixed", 2500), ("hopper-3x1", "medium-expert", 2500), ("mpe-world-4v2", "random", 777)]
VOLATILE = ("created", "command")


def collect_all(root: str) -> None:
    from collectors.collect import collect
    from madatasets.store import Store
    cards = {}
    for scenario, quality, steps in JOBS:
        collect(scenario, quality, steps=steps, seed=5, store=root, progress=False)
        cards[f"{scenario}/{quality}"] = Store(root).card(f"{scenario}/{quality}-v1")
    with open(root + ".json", "w") as handle:
        json.dump(cards, handle, indent=1)


def fail(message: str) -> None:
    print(f"compare_collections.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_cards(path: str) -> dict:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        fail(f"cannot read {path}: {error}")


def diff(old_path: str, new_path: str) -> bool:
    old, new = read_cards(old_path), read_cards(new_path)
    same = True
    if set(old) != set(new):
        fail(f"{old_path} and {new_path} hold different datasets")
    for name in old:
        a, b = ({key: value for key, value in cards[name].items() if key not in VOLATILE} for cards in (old, new))
        equal = json.dumps(a) == json.dumps(b)
        same &= equal
        print(f"{name}: {'identical' if equal else 'DIFFERENT'}")
    return same


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", help="store to collect into (ROOT.json gets the cards)")
    parser.add_argument("--diff", nargs=2, metavar=("OLD_JSON", "NEW_JSON"))
    args = parser.parse_args()
    if args.diff:
        raise SystemExit(0 if diff(*args.diff) else 1)
    if not args.root:
        parser.error("give ROOT, or --diff OLD_JSON NEW_JSON")
    collect_all(args.root)
