"""Optional dependencies: a clear one-line error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from madatasets.errors import MadataError

EXTRAS = {"stable_baselines3": "train", "minari": "export", "rliable": "report"}


def require(module: str) -> ModuleType:
    """Import an optional dependency or raise MadataError saying which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module.split(".")[0], "all")
        raise MadataError(f"this needs the optional package {module.split('.')[0]!r}; "
                          f"install it with: pip install 'madata[{extra}]'") from None
