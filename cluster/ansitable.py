"""Tables drawn for the terminal, as Faust's `as_ansitable()` does, with rich."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table as RichTable


def render(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    table = RichTable(title=title, box=box.SQUARE, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    out = io.StringIO()
    Console(file=out, width=120, force_terminal=False, color_system=None).print(table)
    return out.getvalue()
