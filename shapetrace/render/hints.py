"""What would work instead: the hint under a trace whose probe breaks, in the CLI's words."""

from __future__ import annotations

from shapetrace.models.catalog import APPLICATIONS
from shapetrace.records import Shape, Trace, channels_of, format_shape, shapes_compatible
from shapetrace.tracing.explain import count_text

__all__ = ["break_hint"]


def break_hint(trace: Trace) -> str | None:
    """What would work instead, for a probe that breaks (``None`` when it passes or nothing applies).

    Names only what applies to this model: ``--native`` and ``shapetrace train`` for a
    ``keras.applications`` model; ``--input`` with the declared shape for the user's own.
    """
    if trace.ok:
        return None
    probe = trace.probe
    if _is_application(trace):
        declared_c = channels_of(probe.declared)
        if probe.channels == declared_c:
            return None
        name = trace.request.model or trace.model
        # `train` reads 1- or 3-channel images, and its --adapt meets 1 channel only
        train = " (or shapetrace train --adapt repeat)" if probe.channels == 1 and declared_c == 3 else ""
        return (
            f"Try --channels {declared_c} (what the model declares), --native (build the model for "
            f"{count_text(probe.channels)}), or adapt the model with its weights: shapetrace adapt {name} "
            f"--channels {probe.channels} -o {name}_{probe.channels}ch.keras{train}."
        )
    misfits = [p for p in trace.probes if not shapes_compatible(p.declared, (None, *p.shape[1:]))]
    if not misfits:
        return None  # the probe is what the model declares: the break is in the model itself
    if len(trace.probes) == 1:
        return f"The model declares {format_shape(probe.declared)}: try --input {_dims_text(probe.declared[1:])}."
    return (
        "The model declares "
        + ", ".join(f"{p.name} {format_shape(p.declared)}" for p in misfits)
        + ": try "
        + " ".join(f"--input {p.name}={_dims_text(p.declared[1:])}" for p in misfits)
        + "."
    )


def _is_application(trace: Trace) -> bool:
    return trace.request.model in APPLICATIONS


def _dims_text(shape: Shape) -> str:
    return "x".join("N" if d is None else str(d) for d in shape)
