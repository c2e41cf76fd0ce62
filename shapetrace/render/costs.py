"""The cost footer beneath a trace table, in torchinfo's order. Returns renderables; never prints."""

from __future__ import annotations

from rich.table import Table

from shapetrace.tracing.costs import CostTotals, format_bytes, format_count

__all__ = ["cost_footer"]


def _exact(n: int) -> str:
    return f"{n:,}"


def _macs_cells(totals: CostTotals) -> tuple[str, str]:
    """Known MACs; with unknown layers, a ``+ ?`` that says how many were left out (never a silent 0)."""
    if not totals.unknown_layers:
        return format_count(totals.macs), _exact(totals.macs)
    n = totals.unknown_layers
    return (
        f"{format_count(totals.macs)} + ?",
        f"{_exact(totals.macs)} + {n} layer{'' if n == 1 else 's'} of unknown cost (? in the table)",
    )


def cost_footer(totals: CostTotals) -> Table:
    """Totals as a two-column grid: readable units, exact numbers beside counts."""
    grid = Table.grid(padding=(0, 2))
    # Labels and notes may wrap in a narrow window; the figures never do.
    grid.add_column()
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(style="dim")
    # Only a break leaves layers unrun; a refused input check is walked past, every layer included.
    partial = " (layers up to the break)" if totals.broke else ""
    rows = [
        ("Total params", format_count(totals.total_params), _exact(totals.total_params)),
        (
            "Trainable params" + partial,
            format_count(totals.trainable_params),
            _exact(totals.trainable_params),
        ),
        (
            "Non-trainable params" + partial,
            format_count(totals.non_trainable_params),
            _exact(totals.non_trainable_params),
        ),
        ("Total MACs" + partial, *_macs_cells(totals)),
        ("Input size", format_bytes(totals.input_bytes), ""),
        ("Activations, sum of outputs" + partial, format_bytes(totals.activation_bytes), ""),
        (
            "Activations, peak live (stream engine)",
            format_bytes(totals.peak_live_bytes) if totals.peak_live_bytes else "-",
            "",
        ),
        ("Params size (float32)", format_bytes(totals.params_bytes), ""),
        ("Estimated total size", format_bytes(totals.estimated_total_bytes), "input + activations + params"),
    ]
    for label, value, note in rows:
        grid.add_row(label, value, note)
    return grid
