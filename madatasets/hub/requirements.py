"""What a published dataset needs of this installation (the entry's `requires`)."""

from __future__ import annotations

from typing import Any

from madatasets.errors import MadataError


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def check_requirements(entry: dict[str, Any]) -> None:
    """Refuse, in one line, a dataset this madata cannot use as recorded."""
    from madatasets import __version__
    from madatasets.scenarios import get_spec
    needs = entry["requires"]
    if _version_tuple(needs["madata"]) > _version_tuple(__version__):
        raise MadataError(f"{entry['id']} needs madata >= {needs['madata']}; this is madata {__version__} "
                          f"(upgrade: pip install -U madata)")
    spec = get_spec(needs["scenario"])
    if spec.version != needs["scenario_version"]:
        raise MadataError(f"{entry['id']} was recorded with scenario {needs['scenario']} version "
                          f"{needs['scenario_version']}; this madata has version {spec.version}, whose "
                          f"observations or rewards may differ")
