"""The one table every benchmark reports into: a path, the project's figure, its floor
measured in the same run, their ratio, and the machine's load while it ran."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from live_server import load_average


@dataclass(frozen=True)
class Row:
    path: str
    figure: str
    floor: str = ""
    ratio: float | None = None  # figure / floor, on the first figure of each
    load: str = ""
    skipped: str = ""  # why the row could not be measured here

    @classmethod
    def skip(cls, path: str, reason: str) -> Row:
        return cls(path=path, figure="skipped", skipped=reason, load=load_average())


def print_table(rows: Iterable[Row]) -> None:
    """A Markdown table, so the same text goes into the README."""
    print("| path | figure | floor, same run | ratio | load |")
    print("|---|---|---|---|---|")
    for row in rows:
        if row.skipped:
            print(f"| {row.path} | skipped: {row.skipped} | | | {row.load} |")
            continue
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else ""
        print(f"| {row.path} | {row.figure} | {row.floor} | {ratio} | {row.load} |")
