"""``TrainConfig``: every choice a training run makes, frozen, validated, and written beside it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any, cast

from shapetrace.errors import UsageError
from shapetrace.models.catalog import parse_size, resolve_application, validate_channels, validate_size
from shapetrace.models.weights import weights_choice

__all__ = [
    "ChannelAdapter",
    "Distribute",
    "TrainConfig",
    "DEFAULT_MODEL",
    "DEFAULT_SIZE",
    "DIGITS",
    "RESUME_NEUTRAL",
]

DEFAULT_MODEL = "efficientnetb0"
"""The story's model; from scratch at 32×32 it passes 93% on the digits in about 1.5 min on 2 cores."""
DEFAULT_SIZE = 32
DIGITS = "digits"
"""The ``data`` value meaning scikit-learn's bundled handwritten digits."""

# Fields that may differ between an interrupted run and the command that resumes it.
RESUME_NEUTRAL = frozenset({"output", "overwrite", "resume", "distribute"})


class ChannelAdapter(str, Enum):
    """How one gray channel meets a network declared for three."""

    repeat = "repeat"
    """A layer in front repeats the gray channel into 3 (works for every model)."""
    broadcast = "broadcast"
    """Feed 1 channel to the 3-channel model (only where the trace shows it passes)."""
    sum_stem = "sum-stem"
    """Build the model for 1 channel; the first conv's kernel is the RGB kernel summed over its input axis."""
    learned = "learned"
    """A trainable 1×1 convolution from 1 to 3 channels in front (initialised as ``repeat``)."""


class Distribute(str, Enum):
    """Which ``tf.distribute`` strategy trains the model."""

    none = "none"
    mirrored = "mirrored"
    multi_worker = "multi-worker"


@dataclass(frozen=True)
class TrainConfig:
    """One training run, fully resolved (``resolved()`` fills every default)."""

    data: str = DIGITS
    """``"digits"`` (scikit-learn's bundled 8×8 digits) or a folder with one sub-folder per class."""
    model: str = DEFAULT_MODEL
    """A ``keras.applications`` name (forgiving spelling, as in ``shapetrace trace``)."""
    size: tuple[int, int] | str | None = None
    """Input height and width (or ``"HxW"``, as ``--size`` takes it); default max(32, the model's minimum)."""
    channels: int = 1
    """Channels the images are read with (1 = grayscale)."""
    weights: str = "none"
    """``none`` (from scratch), ``imagenet`` (downloads) or a local weights file of the 3-channel base."""
    adapt: ChannelAdapter = ChannelAdapter.repeat
    """How the image channels meet the 3 the model was declared for (ignored when they are 3)."""
    epochs: int = 8
    """Epochs of training (from scratch: the whole model; pretrained: the head on a frozen base)."""
    fine_tune_epochs: int = 0
    """Pretrained only: further epochs with the whole model trainable at ``fine_tune_lr``."""
    batch_size: int = 32
    lr: float | None = None
    """Learning rate; default 3e-3 from scratch, 1e-3 for the head on a pretrained base."""
    fine_tune_lr: float | None = None
    """Default ``lr / 10``."""
    val_split: float = 0.2
    """Held-out fraction, split per class with ``seed``."""
    seed: int = 0
    limit: int | None = None
    """Use only this many images (a seeded, class-balanced subset), for quick trials."""
    output: str | None = None
    """Run folder; default ``runs/<data>-<model>-<H>x<W>-<adapt>``."""
    overwrite: bool = False
    resume: bool = False
    distribute: Distribute = Distribute.none

    @property
    def pretrained(self) -> bool:
        return weights_choice(self.weights) != "none"

    @property
    def is_digits(self) -> bool:
        return self.data == DIGITS

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["size"] = None if self.size is None else list(self.size)
        data["adapt"] = ChannelAdapter(self.adapt).value
        data["distribute"] = Distribute(self.distribute).value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("size") is not None:
            values["size"] = tuple(values["size"])
        if "adapt" in values:
            values["adapt"] = ChannelAdapter(values["adapt"])
        if "distribute" in values:
            values["distribute"] = Distribute(values["distribute"])
        return cls(**values)

    def resolved(self) -> TrainConfig:
        """Validate every field and fill the defaults that depend on others.

        Raises:
            UsageError: one line naming the bad value and what is accepted.
        """
        app = resolve_application(self.model)
        size = self.size
        if isinstance(size, str):
            size = parse_size(size)
        if size is None:
            size = (max(DEFAULT_SIZE, app.min_size),) * 2
        validate_size(app, (size[0], size[1]))
        validate_channels(self.channels)
        if self.channels not in (1, 3):
            raise UsageError(
                f"Invalid channels={self.channels}: training reads images as 1 (grayscale) or "
                "3 (RGB) channels.",
                param="channels",
            )
        adapt = ChannelAdapter(self.adapt)
        _validate_whole("epochs", self.epochs, 1)
        _validate_whole("fine_tune_epochs", self.fine_tune_epochs, 0)
        _validate_whole("batch_size", self.batch_size, 1)
        _validate_whole("seed", self.seed, 0)
        if self.limit is not None:
            _validate_whole("limit", self.limit, 2)
        if not (isinstance(self.val_split, (int, float)) and 0.0 < self.val_split < 1.0):
            raise UsageError(
                f"Invalid val_split={self.val_split!r}: expected a fraction strictly between 0 and 1 "
                "(e.g. 0.2).",
                param="val_split",
            )
        weights = str(self.weights)
        choice = weights_choice(weights)
        if isinstance(choice, Path) and not choice.is_file():
            raise UsageError(
                f"Weights file {weights!r} does not exist: expected none, imagenet or the path of a "
                ".weights.h5 file saved from the 3-channel model."
            )
        weights = weights if isinstance(choice, Path) else choice
        if self.fine_tune_epochs and weights == "none":
            raise UsageError(
                "`fine_tune_epochs` needs pretrained weights (weights=imagenet or a file): from "
                "scratch every layer already trains during `epochs`.",
                param=("fine_tune_epochs", "weights", "epochs"),
            )
        lr = self.lr if self.lr is not None else (1e-3 if weights != "none" else 3e-3)
        for name, value in (("lr", lr), ("fine_tune_lr", self.fine_tune_lr)):
            if value is not None and not (
                isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            ):
                raise UsageError(
                    f"Invalid {name}={value!r}: expected a positive number like 0.001.", param=name
                )
        fine_lr = self.fine_tune_lr if self.fine_tune_lr is not None else lr / 10
        data = self.data
        if data != DIGITS:
            data = str(Path(data).expanduser())
        output = self.output
        if output is None:
            stem = DIGITS if data == DIGITS else (Path(data).resolve().name or "data")
            output = str(Path("runs") / f"{stem}-{app.key}-{size[0]}x{size[1]}-{adapt.value}")
        return replace(
            self,
            data=data,
            model=app.key,
            size=cast("tuple[int, int]", tuple(size)),  # a list from the caller becomes a tuple
            weights=weights,
            adapt=adapt,
            lr=float(lr),
            fine_tune_lr=float(fine_lr),
            val_split=float(self.val_split),
            output=output,
            distribute=Distribute(self.distribute),
        )

    def differences(self, other: TrainConfig) -> list[str]:
        """Fields (other than how the run is launched) whose values differ."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [k for k in mine if k not in RESUME_NEUTRAL and mine[k] != theirs.get(k)]


def _validate_whole(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"Invalid {name}={value!r}: expected a whole number ≥ {minimum}.", param=name)
