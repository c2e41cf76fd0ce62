"""Optional dependencies: imported where they are used, refused in one line when missing.

``pip install shapetrace`` installs what trace, list, survey, snapshot and check need. Training
(``shapetrace[train]``: scikit-learn's bundled digits, Pillow to decode a DATA_DIR, matplotlib for
its curves) and pictures (``shapetrace[plot]``: matplotlib) are extras.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from shapetrace.errors import UsageError

__all__ = ["require", "require_train", "PACKAGES", "TRAIN_MODULES"]

# Import name → the name pip knows it by.
PACKAGES = {"sklearn": "scikit-learn", "PIL": "Pillow", "matplotlib": "matplotlib"}
# What `shapetrace train` imports (the [train] extra, which pulls [plot] for the curves).
TRAIN_MODULES = ("sklearn", "PIL", "matplotlib")


def require(module: str, *, extra: str, for_: str) -> ModuleType:
    """Import ``module``, or refuse with the one install command that brings it.

    Args:
        module: the import name (``"sklearn"``, ``"matplotlib.figure"``).
        extra: the shapetrace extra that installs it (``"train"``, ``"plot"``).
        for_: what needs it, as the user asked for it (``"shapetrace train"``, ``"--plot"``).

    Raises:
        UsageError: the module (or its package) is not installed (exit code 2 in the CLI).
    """
    top = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and error.name.partition(".")[0] != top:
            raise  # the package is there but broken: its own error says more than ours would
        raise UsageError(
            f"{for_} needs {PACKAGES.get(top, top)}: pip install 'shapetrace[{extra}]'"
        ) from None


def require_train(for_: str = "training") -> None:
    """Every module training imports, checked up front: never a run that stops at its curves."""
    for module in TRAIN_MODULES:
        require(module, extra="train", for_=for_)
