"""One measured row, and the table run.py prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    reference: str | None = None  # name of the row this one is divided by
    ratio: float | None = None
    note: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @classmethod
    def from_wrk(cls, name: str, result: dict[str, Any], reference: str | None = None) -> Row:
        """A row from the RESULT object of bench/wrk/report.lua."""
        row = cls(
            name,
            result["requests"],
            result["duration_us"] / 1e6,
            result["p50_ms"],
            result["p99_ms"],
            errors=result["non2xx"] + result["socket_errors"],
            reference=reference,
        )
        if result["not_found"]:
            row.note = f"{result['not_found']} x 404 (queue ran empty?)"
        elif result["first_error"]:
            row.note = result["first_error"][:60]
        return row

    @classmethod
    def from_ws(cls, name: str, result: dict[str, Any], reference: str | None = None) -> Row:
        """A row from the result of ws_load.run."""
        row = cls(
            name,
            result["requests"],
            result["seconds"],
            result["p50_ms"],
            result["p99_ms"],
            errors=result["errors"] + result["stalled"],
            reference=reference,
        )
        if result["stalled"]:
            row.note = f"{result['stalled']} wants starved (queue ran empty?)"
        elif result["first_error"]:
            row.note = result["first_error"][:60]
        return row


def set_ratios(rows: list[Row]) -> None:
    by_name = {row.name: row for row in rows}
    for row in rows:
        reference = by_name.get(row.reference or "")
        if reference and reference.rps:
            row.ratio = row.rps / reference.rps


def format_table(rows: list[Row]) -> str:
    header = f"{'row':<44} {'per s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} {'errors':>6}"
    lines = [header, "-" * len(header)]
    for row in rows:
        ratio = f"{row.ratio:.0%}" if row.ratio is not None else "-"
        line = (
            f"{row.name:<44} {row.rps:>8.0f} {row.p50_ms:>7.2f} {row.p99_ms:>7.2f}"
            f" {ratio:>6} {row.errors:>6}"
        )
        lines.append(f"{line}  {row.note}".rstrip())
    return "\n".join(lines)
