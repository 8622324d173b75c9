"""Percentiles and the plain-text tables the benchmark prints (Markdown, so they paste into the README)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``share`` of all values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def seconds(value: float) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "never"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def ratio(measured: float, target: float) -> str:
    """``measured / target`` and whether it is met (≤ 1)."""
    if math.isnan(measured) or not target:
        return "—"
    share = measured / target
    return f"{share:.2f} {'met' if share <= 1 else 'MISSED'}" if math.isfinite(share) else "MISSED"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [list(header), *[list(map(str, row)) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)
