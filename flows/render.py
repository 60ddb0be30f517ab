"""Printing tables for people (aligned text) and programs (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from decimal import Decimal


def _cell(value, width: int = 60) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    elif value is None:
        text = ""
    else:
        text = str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def table_text(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Aligned columns; numbers right-aligned."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if not columns:
        return "(no rows)"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(r.get(c), int | float) for r in rows if r.get(c) is not None)
        for c in columns
    ]

    def fmt(values):
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [fmt(columns), fmt(["-" * w for w in widths])]
    lines += [fmt(row) for row in cells]
    if not rows:
        lines.append("(no rows)")
    return "\n".join(lines)


def _jsonable(value):
    """DuckDB sums are DECIMAL/HUGEINT: print them as JSON numbers, not strings."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def render(rows: Sequence[dict], fmt: str = "table", columns: Sequence[str] | None = None) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        return json.dumps(
            [{c: r.get(c) for c in columns} for r in rows], default=_jsonable, indent=1
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    return table_text(rows, columns)
