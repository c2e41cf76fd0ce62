"""Renderers: functions that return rich renderables and never print."""

from shapetrace.render.table import applications_table, trace_report, trace_table

__all__ = ["trace_table", "trace_report", "applications_table"]
