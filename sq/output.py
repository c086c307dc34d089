"""How commands speak: human lines and tables on stdout, or one JSON document with ``--json``; progress on stderr.

Tables and progress bars are rich's. Progress never writes to stdout, so ``--json`` output stays one clean
document. A bar is drawn only when stderr is a terminal; elsewhere (a pipe, a log file, CI) progress is the
plain lines ``progress`` prints, with no control characters.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Iterable, Sequence
from types import TracebackType
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

WIDE = 10_000  # the width a table may take when stdout is not a terminal: never wrapped or cut for a pipe


def emit_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def say(line: str = "") -> None:
    print(line, flush=True)


def progress(line: str) -> None:
    """Progress goes to stderr so that ``--json`` output stays a clean document."""
    print(line, file=sys.stderr, flush=True)


def is_terminal(file: IO[str]) -> bool:
    """Whether ``file`` is a terminal, by the file alone (rich would also take FORCE_COLOR for a yes)."""
    isatty = getattr(file, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


def console(file: IO[str]) -> Console:
    """A rich console on ``file`` as it is now (tests swap sys.stdout): colour, control codes and the terminal's
    width only on a terminal; text only as given (no markup, emoji codes or highlighting read into it)."""
    if is_terminal(file):
        return Console(file=file, force_terminal=True, highlight=False, emoji=False, markup=False)
    return Console(
        file=file, force_terminal=False, width=WIDE, color_system=None, highlight=False, emoji=False, markup=False
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Collection[int] = ()) -> None:
    """Rows under their headers on stdout; the columns whose index is in ``right`` are right-aligned."""
    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for index, header in enumerate(headers):
        grid.add_column(header, justify="right" if index in right else "left", no_wrap=True)
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))
    out = console(sys.stdout)
    with out.capture() as captured:
        out.print(grid)
    for line in captured.get().splitlines():  # without the padding rich leaves after the last column
        say(line.rstrip())


class Activity:
    """A long command's progress on stderr, as a context manager.

    On a terminal: one rich bar (a pulsing one without a ``total``) with the latest status beside it, redrawn
    in place and gone when the activity ends. Elsewhere: each ``status`` is one plain line, as ``progress``
    prints it, and ``reached`` is silent.
    """

    def __init__(self, description: str, total: float | None = None, *, stderr: IO[str] | None = None) -> None:
        self._file = stderr if stderr is not None else sys.stderr
        self.bar: Progress | None = None
        if is_terminal(self._file):
            self.bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                *([MofNCompleteColumn()] if total is not None else []),
                TimeElapsedColumn(),
                TextColumn("{task.fields[status]}"),
                console=console(self._file),
                transient=True,
                redirect_stdout=False,  # stdout is the command's answer: never the bar's
            )
            self._task = self.bar.add_task(description, total=total, status="")

    def __enter__(self) -> Activity:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.stop()

    def reached(self, completed: float) -> None:
        """How much of the total is done now: the bar moves; without a terminal, nothing is printed."""
        if self.bar is not None:
            self.bar.update(self._task, completed=completed)

    def status(self, text: str, completed: float | None = None) -> None:
        """The latest state in words (and optionally how much is done): beside the bar, or one plain line."""
        if self.bar is None:
            print(f"  {text}", file=self._file, flush=True)
        else:
            self.bar.update(self._task, status=text, completed=completed)
