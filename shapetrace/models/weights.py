"""The one rule for a ``weights`` value: no weights, Keras's ImageNet weights, or a local file.

``trace``, ``adapt``, ``train``, applications and baselines all read ``weights`` through
:func:`weights_choice`, so ``" ImageNet "`` means the same everywhere. Each caller keeps its own
message for a file that is missing, since what a weights file must be differs between them.
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from shapetrace.errors import WeightsError
from shapetrace.models.untrusted import user_path

__all__ = ["WeightsChoice", "weights_choice"]

WeightsChoice = Literal["none", "imagenet"] | Path
"""``"none"`` (built from scratch), ``"imagenet"`` (Keras downloads them) or a local file."""


def weights_choice(weights: str | os.PathLike[str] | None) -> WeightsChoice:
    """What ``weights`` asks for: ``"none"``, ``"imagenet"`` or the path of a local file.

    ``None`` and ``"none"`` mean no weights, ``"imagenet"`` Keras's ImageNet weights (any case,
    surrounding spaces ignored); anything else is a path (``~`` expanded), not checked here.

    Raises:
        WeightsError: a blank value, which is none of the three.
    """
    if weights is None:
        return "none"
    text = str(weights)
    word = text.strip().lower()
    if word in ("none", "imagenet"):
        return "none" if word == "none" else "imagenet"
    if not word:
        raise WeightsError(
            "Invalid weights='': expected none, imagenet or the path of a weights file.", param="weights"
        )
    return user_path(text)
