"""Tables for the book's pages: rows of formatted cells as a Markdown table, which myst-nb renders from a glued cell."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

_ALIGN = {"l": ":--", "r": "--:", "c": ":-:"}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A GitHub-flavoured Markdown table; cells are str()-ed. `align` has one of l, r, c per column (default: the first
    column left, the others right, as for a column of labels followed by numbers)."""
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header) or set(align) - set(_ALIGN):
        raise ValueError(f"align must be one of l, r, c per column ({len(header)} columns), got {align!r}")
    lines = [_row(header), "| " + " | ".join(_ALIGN[a] for a in align) + " |"]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"table row {i} has {len(row)} cells, the header {len(header)}")
        lines.append(_row(row))
    return "\n".join(lines)


def _row(cells: Sequence[object]) -> str:
    text = [str(c) for c in cells]
    if any("|" in t or "\n" in t for t in text):
        raise ValueError(f"a table cell may not contain '|' or a line break (use \\lVert in math): {text}")
    return "| " + " | ".join(text) + " |"
