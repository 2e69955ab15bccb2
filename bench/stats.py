"""Small helpers: percentiles and plain-text tables."""

import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p90(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[bool] | None = None
) -> list[str]:
    """A plain-text table; `right` says which columns are right-aligned (numbers)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = right or [False] * len(headers)

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            (cell.rjust(width) if align[i] else cell.ljust(width))
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [line(cells[0]), "  ".join("-" * w for w in widths), *(line(row) for row in cells[1:])]
