"""``shapetrace adapt``: a model declared for N input channels, its pretrained weights folded in.

Every method states the exact equivalence it guarantees as a 3 × N matrix ``P``: the adapted
model on an N-channel image ``x`` computes what the original computes on the 3-channel image
``P·x`` (per pixel). The adapted model is checked against that on a random probe before anything
is written.

* ``sum-stem`` (timm's ``adapt_input_conv``): the model is rebuilt declared for N channels and its
  first convolution's kernel ``W`` (kh, kw, 3, F) becomes ``W·P``: for N = 1 the sum over the
  input channels (``P`` = ones, i.e. the gray image repeated); for other N the RGB kernel repeated
  cyclically and scaled by 3/N (``P[c, j] = 3/N`` where ``j mod 3 = c``). Per-channel
  preprocessing in front of it (``Normalization``, per-channel ``Rescaling``) is folded into the
  kernel and its offsets into the conv's bias or the following BatchNorm (:func:`shapetrace.adapt.stem.fold_stem`).
* ``repeat`` (N < 3): a built-in layer in front copies the channels cyclically into 3
  (``Concatenate`` of the gray channel for N = 1).
* ``mean`` (N > 3): a frozen 1×1 ``Conv2D`` in front averages channels ``c, c+3, c+6, …`` into
  channel ``c``.

Both front layers are plain Keras layers, so the file loads in safe mode without custom objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shapetrace.adapt.stem import Stem, StemFold, find_stem, fold_stem, timm_map
from shapetrace.errors import ProbeBroken, UsageError, VerificationFailed
from shapetrace.fileio import atomic_path, refusal
from shapetrace.options import AdaptMethod

if TYPE_CHECKING:
    from shapetrace.models.catalog import Application

__all__ = [
    "StemFold",
    "AdaptReport",
    "Adapted",
    "TOLERANCE",
    "adapt",
    "adapt_model",
    "probe_map",
    "front_layer",
    "save_adapted",
    "validate_output_path",
]

TOLERANCE = 1e-4
"""Largest accepted ``max |adapted(x) − original(P·x)|``, relative to ``max(1, max |original|)``."""
VERIFY_SEED = 0


def probe_map(method: AdaptMethod | str, channels: int) -> np.ndarray:
    """The 3 × N matrix ``P``: the adapted model on ``x`` equals the original on ``P·x``."""
    method, n = AdaptMethod(method), channels
    if method is AdaptMethod.sum_stem:
        return timm_map(n)
    p = np.zeros((3, n))
    if method is AdaptMethod.repeat:
        for c in range(3):
            p[c, c % n] = 1.0
    else:
        for j in range(n):
            p[j % 3, j] = 1.0
        p /= p.sum(axis=1, keepdims=True)
    return p


def _validate_method(method: AdaptMethod, channels: int) -> None:
    if channels == 3:
        raise UsageError(
            "The model is already declared for 3 channels: channels=3 needs no adapting.", param="channels"
        )
    if method is AdaptMethod.repeat and channels > 3:
        raise UsageError(
            f"method=repeat copies fewer than 3 channels into 3; for {channels} use method=mean or sum-stem.",
            param="method",
        )
    if method is AdaptMethod.mean and channels < 3:
        raise UsageError(
            f"method=mean averages more than 3 channels into 3; for {channels} use method=repeat or sum-stem.",
            param="method",
        )


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class AdaptReport:
    """What ``adapt`` built and how it was checked (the CLI's output, ``to_dict`` for JSON)."""

    model: str
    """The original model's name."""
    adapted: str
    """The adapted model's name."""
    channels: int
    method: str
    note: str
    """What the method did, in one sentence (names the layers involved)."""
    guarantee: str
    """The exact equivalence the method guarantees."""
    probe_map: tuple[tuple[float, ...], ...]
    """``P`` (3 rows, N columns): adapted(x) = original(P·x)."""
    declared: tuple[int | None, ...]
    """The adapted model's declared input shape."""
    original_declared: tuple[int | None, ...]
    """The original model's declared input shape."""
    probe: tuple[int, ...]
    max_abs_difference: float
    tolerance: float
    """The absolute tolerance applied (``TOLERANCE × max(1, max |original|)``)."""
    reference_scale: float
    """``max |original(P·x)|``."""
    verdict: str
    """The trace verdict of the adapted model on the probe."""
    first_change: str | None
    fold: StemFold | None = None
    fallback: str | None = None
    """Why the default did not use sum-stem (``None`` when it did or a method was asked for)."""
    output: str | None = None
    output_bytes: int | None = None
    reloaded: bool = False
    """The written file was loaded back with ``keras.saving.load_model(safe_mode=True)`` and agreed."""

    @property
    def ok(self) -> bool:
        return self.max_abs_difference <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "shapetrace.adapt/1",
            "model": self.model,
            "adapted": self.adapted,
            "channels": self.channels,
            "method": self.method,
            "note": self.note,
            "guarantee": self.guarantee,
            "probe_map": [list(row) for row in self.probe_map],
            "declared": list(self.declared),
            "original_declared": list(self.original_declared),
            "probe": list(self.probe),
            "max_abs_difference": self.max_abs_difference,
            "tolerance": self.tolerance,
            "reference_scale": self.reference_scale,
            "verdict": self.verdict,
            "first_change": self.first_change,
            "fold": None if self.fold is None else self.fold.to_dict(),
            "fallback": self.fallback,
            "output": self.output,
            "output_bytes": self.output_bytes,
            "reloaded": self.reloaded,
        }


@dataclass(frozen=True)
class Adapted:
    """The adapted ``keras.Model`` with its report."""

    model: Any
    report: AdaptReport
    probe: Any
    """The N-channel verification probe (reused to check the written file)."""


def _compared_layer(fold: StemFold) -> str:
    """The stem conv, or the BatchNorm after it when that absorbed the folded constant."""
    if fold.constant_into and not fold.constant_into.startswith(f"{fold.stem}."):
        return fold.constant_into.split(".")[0]
    return fold.stem


def _measured_border(
    rgb_model: Any, native_model: Any, fold: StemFold, probe: np.ndarray, mapped: np.ndarray
) -> tuple[float, float | None]:
    """The largest stem-level difference on the probe (after the absorbing BatchNorm, if any),
    with the largest value of that output; the analytic bound where the stem is nested."""
    from shapetrace.tracing._keras_graph import keras

    name = _compared_layer(fold)
    try:
        want = keras.Model(rgb_model.inputs[0], rgb_model.get_layer(name).output)(mapped)
        got = keras.Model(native_model.inputs[0], native_model.get_layer(name).output)(probe)
    except (ValueError, KeyError):  # the stem sits in a nested model: keep the analytic bound
        return fold.border_difference, None
    want, got = np.asarray(want, "float64"), np.asarray(got, "float64")
    return float(np.abs(got - want).max()), float(np.abs(want).max())


# --------------------------------------------------------------------------- building


def front_layer(method: AdaptMethod | str, channels: int, name: str | None = None) -> Any:
    """The built-in Keras layer that maps N channels to 3 as ``probe_map(method, N)`` says.

    ``repeat`` with one channel is a ``Concatenate`` (an exact copy); otherwise a frozen 1×1
    ``Conv2D`` without bias whose kernel is ``P`` (a copy or an average, exact in float32 up to
    rounding). Both load in safe mode without custom objects.
    """
    from shapetrace.tracing._keras_graph import keras

    method = AdaptMethod(method)
    if method is AdaptMethod.repeat and channels == 1:
        concatenate = keras.layers.Concatenate(axis=-1, name=name or "repeat_channels")
        return lambda x: concatenate([x, x, x])
    kernel = probe_map(method, channels).T[None, None].astype("float32")  # (1, 1, N, 3)
    return keras.layers.Conv2D(
        3,
        1,
        use_bias=False,
        trainable=False,
        name=name or f"{method.value}_channels",
        kernel_initializer=keras.initializers.Constant(kernel),
    )


def _with_front(original: Any, method: AdaptMethod, channels: int) -> Any:
    from shapetrace.tracing._keras_graph import keras

    shape = tuple(original.inputs[0].shape[1:-1]) + (channels,)
    inputs = keras.Input(shape, name="image")
    outputs = original(front_layer(method, channels)(inputs))
    return keras.Model(inputs, outputs, name=f"{original.name}_{channels}ch")


def _native_user_model(original: Any, stem: Stem, channels: int) -> Any:
    """``original`` rebuilt from its config, declared for N channels (weights copied afterwards)."""
    from shapetrace.tracing._keras_graph import keras

    if stem.owner is not original:
        raise UsageError(
            f"sum-stem: `{stem.conv.name}` sits inside the nested model `{stem.owner.name}` of your model; "
            "use method=repeat.",
            param="method",
        )
    touched = {stem.conv.name, *(l.name for l in stem.chain)}
    serialized = keras.saving.serialize_keras_object(original)
    config = serialized["config"]
    for entry in config.get("layers", []):
        layer_config = entry.get("config", {})
        if entry.get("class_name") == "InputLayer":
            for key in ("batch_shape", "batch_input_shape"):
                if layer_config.get(key):
                    layer_config[key] = [*layer_config[key][:-1], channels]
            continue
        if layer_config.get("name") not in touched:
            continue
        entry.pop("build_config", None)  # built again on the N-channel tensor
        _identity_config(entry, channels)
    if config.get("build_input_shape"):
        config["build_input_shape"] = [*config["build_input_shape"][:-1], channels]
    config["name"] = f"{original.name}_{channels}ch"
    try:
        return keras.saving.deserialize_keras_object(serialized)
    except Exception as error:  # Keras raises many types for a graph it cannot rebuild
        from shapetrace.messages import one_line

        raise UsageError(
            f"sum-stem: {original.name} could not be rebuilt for {channels} channels ({one_line(error, 200)}); "
            "use method=repeat.",
            param="method",
        ) from None


def _identity_config(entry: dict, channels: int) -> None:
    """Per-channel preprocessing becomes identity (its effect is folded into the stem)."""
    kind, config = entry.get("class_name"), entry["config"]
    if kind == "Normalization" and config.get("mean") is not None:
        config["mean"], config["variance"] = [0.0] * channels, [1.0] * channels
    if kind == "Rescaling" and (
        isinstance(config.get("scale"), (list, dict)) or isinstance(config.get("offset"), (list, dict))
    ):
        config["scale"], config["offset"] = 1.0, 0.0


def _sum_stem(original: Any, channels: int, build: Callable[[int], Any] | None) -> tuple[Any, StemFold]:
    stem = find_stem(original)
    native = build(channels) if build is not None else _native_user_model(original, stem, channels)
    return native, fold_stem(original, native, channels)


def _guarantee(method: AdaptMethod, channels: int, name: str, fold: StemFold | None) -> str:
    if method is AdaptMethod.repeat and channels == 1:
        probe = "the gray channel repeated 3 times"
    elif method is AdaptMethod.sum_stem and channels == 1:
        probe = "the channel repeated 3 times"
    else:
        rows = []
        p = probe_map(method, channels)
        for _c, row in enumerate(p):
            terms = [f"{_num(v)}x{j}" if v != 1 else f"x{j}" for j, v in enumerate(row) if v]
            rows.append(" + ".join(terms) if terms else "0")
        probe = "(" + ", ".join(rows) + ")"
    where = "exactly, padding included"
    if fold is not None and not fold.exact_at_borders:
        where = "inside the image only (not at the zero-padded border)"
    elif method is not AdaptMethod.sum_stem:
        where = "exactly (a copy)" if method is AdaptMethod.repeat else "exactly, up to float32 rounding"
    return f"adapted(x) = {name}({probe}) {where}"


def _count(channels: int) -> str:
    return f"{channels} channel" + ("" if channels == 1 else "s")


def _num(value: float) -> str:
    return f"{value:.4g}"


def adapt_model(
    original: Any,
    *,
    channels: int,
    method: AdaptMethod | str | None = None,
    size: tuple[int, int] | None = None,
    build: Callable[[int], Any] | None = None,
    tolerance: float = TOLERANCE,
) -> Adapted:
    """Adapt a built 3-channel model to ``channels``, verify it and trace it.

    Args:
        original: a single-input image model declared for 3 channels (with its weights).
        channels: the channel count to declare.
        method: a :class:`AdaptMethod`; ``None`` takes sum-stem where it is exact, else repeat/mean.
        size: ``(height, width)`` of the verification probe (default: the declared size).
        build: a callable ``channels -> model`` building the same architecture declared for N
            channels (a ``keras.applications`` constructor with ``weights=None``); without it,
            sum-stem rebuilds ``original`` from its config.
        tolerance: relative tolerance of the equivalence check.

    Returns:
        :class:`Adapted` (the model, its report, the probe).

    Raises:
        UsageError: the method does not apply (the reason and the layer in one line).
        VerificationFailed: the adapted model differs from the original on the mapped probe.
        ProbeBroken: the adapted model's trace breaks.
    """
    from shapetrace.api import trace_model
    from shapetrace.tracing.explain import verdict_text

    _validate_original(original)
    wanted = None if method is None else AdaptMethod(method)
    if wanted is not None:
        _validate_method(wanted, channels)
    elif channels == 3:
        _validate_method(AdaptMethod.sum_stem, channels)
    probe = _probe(original, channels, size)
    adapted, chosen, fold, fallback = _adapted(original, channels, wanted, probe, build)

    mapped = _mapped(probe, chosen)
    want = _outputs(original, mapped)
    got = _outputs(adapted, probe)
    difference = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
    reference = max(float(np.abs(w).max()) for w in want)
    allowed = tolerance * max(1.0, reference)
    trace = trace_model(adapted, channels=channels, size=size)
    first = trace.changes[0] if trace.changes else None
    report = AdaptReport(
        model=original.name,
        adapted=adapted.name,
        channels=channels,
        method=chosen.value,
        note=_note(chosen, channels, fold, adapted),
        guarantee=_guarantee(chosen, channels, original.name, fold),
        probe_map=tuple(tuple(float(v) for v in row) for row in probe_map(chosen, channels)),
        declared=tuple(adapted.inputs[0].shape),
        original_declared=tuple(original.inputs[0].shape),
        probe=tuple(probe.shape),
        max_abs_difference=difference,
        tolerance=allowed,
        reference_scale=reference,
        verdict=verdict_text(trace),
        first_change=None if first is None else f"{first.path} ({first.type})",
        fold=fold,
        fallback=fallback,
    )
    if not trace.ok:
        raise ProbeBroken(
            f"The adapted {adapted.name} does not pass its own {channels}-channel probe: {report.verdict}"
        )
    if not report.ok:
        raise VerificationFailed(
            f"The adapted {adapted.name} differs from {original.name} on the mapped probe by {difference:.3g} "
            f"(tolerance {allowed:.3g}, outputs up to {reference:.3g}): nothing written."
        )
    return Adapted(model=adapted, report=report, probe=probe)


def _validate_original(original: Any) -> None:
    """``original`` has one image input declared for 3 channels."""
    if len(original.inputs) != 1 or len(original.inputs[0].shape) != 4:
        raise UsageError(
            f"adapt needs a model with one image input (batch, H, W, C); {original.name} has "
            + ", ".join(str(tuple(t.shape)) for t in original.inputs)
            + "."
        )
    declared_channels = original.inputs[0].shape[-1]
    if declared_channels != 3:
        raise UsageError(
            f"adapt maps N channels onto a model declared for 3; {original.name} is declared for {declared_channels}."
        )


def _adapted(
    original: Any,
    channels: int,
    wanted: AdaptMethod | None,
    probe: np.ndarray,
    build: Callable[[int], Any] | None,
) -> tuple[Any, AdaptMethod, StemFold | None, str | None]:
    """The adapted model, its method, the stem fold and why sum-stem fell back (when it did).

    Without a wanted method, sum-stem is tried first and repeat/mean taken where it is refused
    or not exact at the image border.
    """
    fold, fallback = None, None
    chosen = wanted or AdaptMethod.sum_stem
    if chosen is AdaptMethod.sum_stem:
        try:
            adapted, fold = _sum_stem(original, channels, build)
        except UsageError as refused:
            if wanted is not None:
                raise
            # The reason only: its advice (use method=repeat) is what the fallback already does.
            fallback = str(refused).removeprefix("sum-stem: ").removesuffix("; use method=repeat.")
        if fold is not None and not fold.exact_at_borders:
            reason = _border_reason(original, adapted, fold, probe)
            if wanted is not None:
                raise UsageError(
                    f"sum-stem is not exact for {original.name}: {reason}; use method="
                    f"{'repeat' if channels < 3 else 'mean'} (exact everywhere).",
                    param="method",
                )
            fold, fallback = None, reason
        if fold is None:
            chosen = AdaptMethod.repeat if channels < 3 else AdaptMethod.mean
    if chosen is not AdaptMethod.sum_stem:
        adapted = _with_front(original, chosen, channels)
    return adapted, chosen, fold, fallback


def _border_reason(original: Any, adapted: Any, fold: StemFold, probe: np.ndarray) -> str:
    """Why a sum-stem fold is not exact at the image border, with the difference measured."""
    mapped = _mapped(probe, AdaptMethod.sum_stem)
    measured, scale = _measured_border(original, adapted, fold, probe, mapped)
    of_scale = f" (its values reach {scale:.3g})" if scale is not None else ""
    return (
        f"`{fold.stem}` zero-pads after the per-channel offsets of {', '.join(f'`{n}`' for n in fold.folded) or 'its preprocessing'}, "
        f"so at the image border the output of `{_compared_layer(fold)}`{of_scale} differs from the "
        f"original's on the mapped probe by up to {measured:.3g}; it is exact inside the image"
    )


def _probe(original: Any, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """A seeded random image batch of the declared size (or ``size``) with N channels, 0–255."""
    height, width = original.inputs[0].shape[1:3]
    if size is not None:
        if (height, width) != (None, None) and (height, width) != tuple(size):
            raise UsageError(
                f"size={size[0]}x{size[1]}: {original.name} is declared for {height}x{width}, and adapt "
                "keeps the declared size; drop `size`.",
                param="size",
            )
        height, width = size
    if height is None or width is None:
        raise UsageError(
            f"{original.name} declares its input size as {height}x{width}: pass size=HxW to verify it.",
            param="size",
        )
    return (
        np.random.default_rng(VERIFY_SEED).uniform(0.0, 255.0, (2, height, width, channels)).astype("float32")
    )


def _mapped(probe: np.ndarray, method: AdaptMethod) -> np.ndarray:
    p = probe_map(method, probe.shape[-1])
    return np.einsum("bhwn,cn->bhwc", probe.astype("float64"), p).astype("float32")


def _outputs(model: Any, x: np.ndarray) -> list[np.ndarray]:
    from shapetrace.tracing._keras_graph import flatten

    return [np.asarray(v, dtype="float64") for v in flatten(model(x, training=False))]


def _note(method: AdaptMethod, channels: int, fold: StemFold | None, adapted: Any) -> str:
    if method is AdaptMethod.sum_stem:
        assert fold is not None  # sum-stem always folds
        rule = (
            "summed over its 3 input channels"
            if channels == 1
            else f"repeated over the {channels} channels and scaled by 3/{channels}"
        )
        extra = f", with {', '.join(f'`{n}`' for n in fold.folded)} folded in" if fold.folded else ""
        into = f" (offsets into {fold.constant_into})" if fold.constant_into else ""
        return f"sum-stem: rebuilt for {_count(channels)}; `{fold.stem}`'s kernel {rule} (timm's adapt_input_conv){extra}{into}"
    layer = adapted.layers[1].name
    if method is AdaptMethod.repeat:
        what = (
            "copies the gray channel into 3"
            if channels == 1
            else f"copies the {channels} channels cyclically into 3"
        )
        kind = "Concatenate" if channels == 1 else "frozen 1×1 Conv2D"
        return f"repeat: a {kind} layer `{layer}` in front {what}"
    return f"mean: a frozen 1×1 Conv2D `{layer}` in front averages channels c, c+3, … into channel c"


# --------------------------------------------------------------------------- the whole command


def validate_output_path(output: str | Path) -> Path:
    """The ``.keras`` path to write, checked before anything is built."""
    path = Path(output).expanduser()
    if path.suffix != ".keras":
        raise UsageError(
            f"-o {str(output)!r}: the adapted model is written as a .keras file; give a path ending in .keras."
        )
    reason = refusal(path)
    if reason is not None:
        raise UsageError(f"-o {str(output)!r}: {reason}.")
    return path


def adapt(
    model: Any,
    *,
    channels: int,
    method: AdaptMethod | str | None = None,
    size: tuple[int, int] | str | None = None,
    weights: str | Path | None = None,
    top: bool = False,
    pooling: str | None = None,
    factory_args: Mapping[str, Any] | list[str] | tuple[str, ...] | None = None,
    unsafe_load: bool = False,
    tolerance: float = TOLERANCE,
) -> Adapted:
    """Build (or load) ``model``, adapt it to ``channels``, verify and trace it (nothing written).

    Args:
        model: a ``keras.applications`` name, a saved model file, a factory spec, or a ``keras.Model``.
        channels: the channel count the adapted model is declared for.
        method: ``"sum-stem"``, ``"repeat"``, ``"mean"`` or ``None`` (sum-stem where exact).
        size, weights, top, pooling: build options of an application (as for ``trace``);
            ``weights`` may also be a weights file for your own model.
        factory_args, unsafe_load: as for ``trace``.
        tolerance: relative tolerance of the equivalence check.

    Returns:
        :class:`Adapted`; write it with :func:`save_adapted`.
    """
    from shapetrace.models.applications import build_application
    from shapetrace.models.catalog import parse_size, validate_channels
    from shapetrace.models.spec import model_from_spec

    if isinstance(size, str):
        size = parse_size(size)
    validate_channels(channels)
    _validate_method(AdaptMethod(method or AdaptMethod.sum_stem), channels)
    built = model_from_spec(
        model,
        size=size,
        weights=weights,
        top=top,
        pooling=pooling,
        factory_args=factory_args,
        unsafe_load=unsafe_load,
        offered=("top", "pooling"),
    )
    build = None
    if (app := built.application) is not None:
        options: dict[str, Any] = dict(size=size, top=top, pooling=pooling)
        # Building an application resets Keras's naming, so the original keeps its names first.
        build = lambda n: _build_native(build_application, app, n, options)  # noqa: E731
    return adapt_model(
        built.model, channels=channels, method=method, size=size, build=build, tolerance=tolerance
    )


def _build_native(
    build_application: Callable[..., Any], app: Application, channels: int, options: dict[str, Any]
) -> Any:
    import warnings

    with warnings.catch_warnings():  # "usually expects 1 or 3 input channels": N is what was asked for
        warnings.filterwarnings("ignore", message=".*input channels", category=UserWarning)
        return build_application(app, channels=channels, native=True, **options)


def save_adapted(adapted: Adapted, output: str | Path) -> AdaptReport:
    """Write the adapted model to ``output`` (a ``.keras`` file), atomically, and prove it loads.

    The model is saved to a temporary file beside ``output``, loaded back with
    ``keras.saving.load_model(safe_mode=True)`` and run on the verification probe; only if it
    agrees is it renamed over ``output``. On any failure nothing is left behind and an existing
    ``output`` is untouched.
    """
    from dataclasses import replace

    from shapetrace.messages import one_line
    from shapetrace.tracing._keras_graph import keras

    path = validate_output_path(output)
    with atomic_path(path, suffix=".keras") as tmp:  # any failure below removes it
        try:
            adapted.model.save(tmp)
        except OSError as error:
            raise UsageError(
                f"Cannot write {str(path)!r} ({error.strerror or error}): nothing written."
            ) from None
        try:
            loaded = keras.saving.load_model(tmp, compile=False, safe_mode=True)
        except Exception as error:
            raise VerificationFailed(
                f"The written model does not load in safe mode ({one_line(error, 200)}): nothing written."
            ) from None
        before, after = _outputs(adapted.model, adapted.probe), _outputs(loaded, adapted.probe)
        if any(not np.array_equal(a, b) for a, b in zip(before, after)):
            raise VerificationFailed(
                "The model loaded back from the written file computes different outputs: nothing written."
            )
    return replace(adapted.report, output=str(path), output_bytes=path.stat().st_size, reloaded=True)
