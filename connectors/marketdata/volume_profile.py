"""Writes VWAP's default volume profile (``processors/algos/volume_profile.json``) from a recorded tape:
``python -m connectors.marketdata.volume_profile [--tape FILE] [--buckets N]`` (default: the shipped sample).

Each symbol's traded quantity in ``N`` equal time buckets of the tape's span, as shares of the symbol's total,
averaged over the symbols (so a busy symbol does not set the shape alone), rounded to 6 decimals.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.marketdata.sample import SAMPLE_DIR, SAMPLE_FILE
from connectors.marketdata.tape_io import read_rows
from processors.algos import profile

PROFILE_PATH = Path(profile.__file__).resolve().parent / profile.PROFILE_FILE
DEFAULT_BUCKETS = 12


def volume_curve(rows: Iterable[Mapping[str, Any]], buckets: int) -> list[float]:
    """The averaged per-symbol volume shares of ``buckets`` equal time buckets over the rows' span."""
    rows = list(rows)
    if not rows:
        raise ValueError("the tape has no rows")
    first = min(int(row["time_us"]) for row in rows)
    span = max(int(row["time_us"]) for row in rows) - first + 1
    volumes: dict[str, list[Decimal]] = {}
    for row in rows:
        if row["kind"] == "trade":
            bucket = (int(row["time_us"]) - first) * buckets // span
            volumes.setdefault(row["symbol"], [Decimal(0)] * buckets)[bucket] += Decimal(row["quantity"])
    if not volumes:
        raise ValueError("the tape has no trades")
    shares = [[float(v / sum(per_bucket)) for v in per_bucket] for per_bucket in volumes.values()]
    return [round(sum(column) / len(shares), 6) for column in zip(*shares, strict=True)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.marketdata.volume_profile", description=__doc__)
    parser.add_argument("--tape", type=Path, default=SAMPLE_DIR / SAMPLE_FILE, help="a recorded tape")
    parser.add_argument("--buckets", type=int, default=DEFAULT_BUCKETS)
    parser.add_argument("--out", type=Path, default=PROFILE_PATH)
    args = parser.parse_args(argv)
    weights = volume_curve((row.values for row in read_rows(args.tape)), args.buckets)
    document = {"source": args.tape.name, "buckets": args.buckets, "weights": weights}
    args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(weights)} buckets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
