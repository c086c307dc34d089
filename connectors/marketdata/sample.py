"""Writes the shipped sample session (``sq feed sample-generate`` or ``python -m connectors.marketdata.sample``).

An hour of synthetic BTCUSDT and ETHUSDT trades and depth (see ``synthetic``) as one Parquet tape,
``connectors/marketdata/sample/session.parquet``, which ``sq feed file --sample`` plays. Snapshot rows carry
their event id (it names the sample's seed), so every replay of the sample publishes the same ids.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from connectors.marketdata.messages import BookSnapshot, DepthDiff
from connectors.marketdata.records import event_id_for
from connectors.marketdata.synthetic import VENUE, SessionConfig, generate_session
from connectors.marketdata.tape import row_from_message
from connectors.marketdata.tape_io import write_csv, write_parquet

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_FILE = "session.parquet"


def sample_rows(config: SessionConfig) -> list[dict[str, Any]]:
    epochs: dict[str, str] = {}
    rows = []
    for message in generate_session(config):
        event_id = correlation = None
        if isinstance(message, BookSnapshot):
            event_id = event_id_for(f"{VENUE}|{message.symbol}|snapshot|{message.last_update_id}|seed{config.seed}")
            epochs[message.symbol] = correlation = event_id
        elif isinstance(message, DepthDiff):
            correlation = epochs[message.symbol]
        rows.append(row_from_message(VENUE, message, event_id, correlation))
    return rows


def write_sample(out: Path, config: SessionConfig, fmt: str = "parquet") -> Path:
    rows = sample_rows(config)
    out.parent.mkdir(parents=True, exist_ok=True)
    (write_parquet if fmt == "parquet" else write_csv)(out, rows)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR / SAMPLE_FILE, help="file to write (.parquet or .csv)")
    parser.add_argument("--seed", type=int, default=SessionConfig.seed)
    parser.add_argument("--seconds", type=int, default=SessionConfig.seconds, help="session length")
    parser.add_argument("--symbols", default=",".join(SessionConfig.symbols))


def generate(args: argparse.Namespace) -> tuple[Path, int]:
    config = SessionConfig(seed=args.seed, seconds=args.seconds, symbols=tuple(args.symbols.split(",")))
    out: Path = args.out
    if out.suffix not in (".parquet", ".csv"):
        raise ValueError(f"--out must end in .parquet or .csv, got {out}")
    write_sample(out, config, out.suffix.lstrip("."))
    return out, out.stat().st_size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.marketdata.sample", description=__doc__)
    add_arguments(parser)
    out, size = generate(parser.parse_args(argv))
    print(f"wrote {out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
