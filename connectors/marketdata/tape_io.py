"""Reading tapes (CSV and Parquet, one file, several, or directories of them) and writing them (Parquet)."""

from __future__ import annotations

import contextlib
import csv
import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.marketdata.tape import TAPE_COLUMNS

SUFFIXES: Final = (".csv", ".parquet")
BATCH_ROWS: Final = 8192
PARQUET_SCHEMA: Final = pa.schema(
    [
        (
            name,
            pa.int64()
            if name in {"time_us", "first_update_id", "last_update_id", "previous_last_update_id"}
            else pa.string(),
        )
        for name in TAPE_COLUMNS
    ]
)


@dataclass(frozen=True, slots=True)
class TapeRow:
    source: str  # the file it came from
    number: int  # 1-based row number within the file (header excluded)
    values: Mapping[str, Any]


def tape_files(paths: list[Path]) -> list[Path]:
    """The files named, and the CSV/Parquet files inside the directories named (by name); refuses others."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file()))
        elif path.is_file() and path.suffix in SUFFIXES:
            found.append(path)
        elif path.exists():
            raise ValueError(f"{path} is neither a .csv nor a .parquet file")
        else:
            raise FileNotFoundError(f"{path} does not exist")
    if not found:
        raise FileNotFoundError(f"no .csv or .parquet files in {', '.join(map(str, paths))}")
    return found


def read_rows(path: Path) -> Iterator[TapeRow]:
    """A file's rows in order: CSV as text (decimal strings stay exact), Parquet as typed values."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for number, values in enumerate(csv.DictReader(handle), start=1):
                yield TapeRow(str(path), number, values)
        return
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        for values in batch.to_pylist():
            number += 1
            yield TapeRow(str(path), number, values)


def _timed(path: Path, index: int) -> Iterator[tuple[int, int, int, TapeRow]]:
    last = 0
    for row in read_rows(path):
        # A malformed time keeps the row where it is; the player dead-letters it.
        with contextlib.suppress(TypeError, ValueError):
            last = int(row.values.get("time_us"))  # type: ignore[arg-type]  # checked by the suppress
        yield last, index, row.number, row


def merged_rows(paths: list[Path]) -> Iterator[TapeRow]:
    """Rows of several time-ordered files, merged by event time (ties keep file order)."""
    files = tape_files(paths)
    if len(files) == 1:  # one file plays in file order: nothing to merge
        yield from read_rows(files[0])
        return
    for _time, _index, _number, row in heapq.merge(*(_timed(p, i) for i, p in enumerate(files))):
        yield row


class TapeRecorder:
    """Writes tape rows to Parquet in ``directory``: a complete, closed file every ``rows_per_file`` rows (and at
    ``close``), so a recording survives a crash up to its last file and a directory replays in order."""

    def __init__(self, directory: Path, label: str, rows_per_file: int = 50_000) -> None:
        self.directory = directory
        self.label = label
        self.rows_per_file = rows_per_file
        self.pending: list[dict[str, Any]] = []
        self.files: list[Path] = []
        self.rows = 0
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict[str, Any]) -> None:
        self.pending.append(row)
        self.rows += 1
        if len(self.pending) >= self.rows_per_file:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        path = self.directory / f"{self.label}-{len(self.files) + 1:05d}.parquet"
        write_parquet(path, self.pending)
        self.files.append(path)
        self.pending = []

    def close(self) -> None:
        self.flush()


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA)
    pq.write_table(table, path, compression="zstd")


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TAPE_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
