"""Renderables for ``shapetrace adapt``: what was built, the equivalence it guarantees, the checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.text import Text

from shapetrace.records import Shape

if TYPE_CHECKING:
    from shapetrace.adapt.fold import AdaptReport

__all__ = ["adapt_report"]


def adapt_report(report: AdaptReport) -> RenderableType:
    """The adapted model, the method and its guarantee, the check, the trace verdict, the file."""
    declared, original = _shape(report.declared), _shape(report.original_declared)
    check = "✓" if report.ok else "✗"
    lines = [
        Text.assemble(("model      ", "bold"), f"{report.model}: declared {original} → {declared}"),
        Text.assemble(("method     ", "bold"), report.note),
    ]
    if report.fallback:
        lines.append(
            Text.assemble(
                ("           ", "bold"), f"(default: sum-stem does not apply exactly — {report.fallback})"
            )
        )
    lines += [
        Text.assemble(("guarantee  ", "bold"), report.guarantee),
        Text.assemble(
            ("check      ", "bold"),
            f"max |adapted(x) − original(P·x)| = {report.max_abs_difference:.3g} on a random probe "
            f"{_shape(report.probe)} (tolerance {report.tolerance:.3g}; outputs up to "
            f"{report.reference_scale:.3g}) {check}",
        ),
        Text.assemble(("trace      ", "bold"), report.verdict),
    ]
    if report.output is not None:
        size = _bytes(report.output_bytes or 0)
        loaded = (
            "; loads with keras.saving.load_model(safe_mode=True) and gives the same outputs"
            if report.reloaded
            else ""
        )
        lines.append(Text.assemble(("wrote      ", "bold"), f"{report.output} ({size}){loaded}"))
    return Group(*lines)


def _shape(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _bytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count >= 1e6 else f"{count / 1e3:,.1f} kB"
