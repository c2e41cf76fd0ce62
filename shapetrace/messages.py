"""One-line error text: a foreign exception as one readable line, user echoes clipped.

Imports neither Keras nor rich: the CLI and the library share these before TensorFlow loads.
"""

from __future__ import annotations

import re

__all__ = ["ECHO_LIMIT", "LINE_LIMIT", "one_line", "clip_message", "visible"]

# Error lines echo what the user gave (names, paths, option values); a 100,000-character
# model name must not become a 100,000-character error. Cut in one place: here.
ECHO_LIMIT = 200
LINE_LIMIT = 1500
_LONG_RUN = re.compile(rf"\S{{{ECHO_LIMIT + 1},}}")

# What a terminal (or a CI log viewer) would act on instead of showing: C0 controls but the
# newline and the tab, DEL, C1 controls, the bidirectional overrides, embeddings and isolates
# (U+202E turns "exe.txt" into "txt.exe") and the Unicode line separators.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = re.compile(r"\s*(Arguments received by .*|Call arguments received by .*)$", re.S)


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message as one readable line: no tensor dumps, no call context."""
    try:
        text = _ANSI.sub("", str(error))
    except Exception:  # a foreign exception whose __str__ itself raises
        return f"{type(error).__name__} (its message cannot be shown)"
    text = _NOISE.sub("", text)
    text = re.sub(r"^Exception encountered when calling [\w.]+\(\)\.\s*", "", text.strip())
    # TensorFlow prefixes op errors with "{{function_node ...}}" and appends "[Op:...]".
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\]", "", text)
    # Tensor reprs: keep their shape, drop the values.
    text = re.sub(
        r"<?tf\.Tensor:? ?(?:id=\d+, )?shape=\(([^)]*)\)[^>]*>?",
        r"tensor of shape (\1)",
        text,
        flags=re.S,
    )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = " ".join(lines[:3]) if lines else type(error).__name__
    line = re.sub(r"\s+", " ", line)
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def clip_message(text: str) -> str:
    """``text`` with every run of more than ``ECHO_LIMIT`` non-space characters cut with ``…``,
    and the whole at most ``LINE_LIMIT`` characters (its head and its tail, which says what to do)."""
    text = _LONG_RUN.sub(lambda match: match.group(0)[: ECHO_LIMIT - 1] + "…", text)
    if len(text) > LINE_LIMIT:
        tail = LINE_LIMIT // 3
        text = text[: LINE_LIMIT - tail - 3] + " … " + text[-tail:]
    return text


def visible(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\u202e``), never acted on.

    The one escaping function: every console shapetrace prints, records or exports through
    (:class:`shapetrace.render.text.VisibleConsole`) applies it to what it renders, so a layer
    name, a path or an error text from a model, a baseline or a factory cannot clear the
    screen, move the cursor, reorder a line or fake one.
    """
    if not _INVISIBLE.search(text):
        return text
    return _INVISIBLE.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
