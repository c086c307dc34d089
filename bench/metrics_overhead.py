"""What the metrics cost the order path, in process: the kafka engine's per-record and per-batch counting
(processors/runtime/metrics.py) against the order path's own work on the same records.

    .venv/bin/python -m bench.metrics_overhead [--orders 5000] [--accounts 4] [--batch 100] [--repeat 5] [--seed 7]

The seeded flow of ``tests.kit.flows.flow_events`` goes once through the single-process order path (stage
"orderpath": risk, OMS, venue, portfolio) to get every input's outputs; then, timed apart in process CPU time
(steady on a busy machine): ``Pipeline.apply`` on every input (fresh cores each repeat), and what the engine adds
for the same inputs: ``observe_record`` per input and ``observe_batch`` per ``--batch`` inputs. Prints µs per
order for each and the share the counting adds. The median of ``--repeat`` runs. Measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from connectors.order_flow import FlowConfig
from processors.runtime.metrics import ProcessMetrics
from processors.runtime.pipeline import Pipeline, stage_spec
from processors.runtime.registry import stage_factories
from schemas.names import NEW_ORDER
from tests.kit.flows import flow_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100, help="inputs per transaction")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    events = flow_events(FlowConfig(orders=args.orders, seed=args.seed, accounts=args.accounts))
    orders = sum(event.schema == NEW_ORDER for event in events)
    spec = stage_spec("orderpath")

    def pipeline() -> Pipeline:
        return Pipeline([factory() for factory in stage_factories(spec)], spec.name)

    path = pipeline()
    outputs = [(event.topic, path.apply(event)) for event in events]
    apply_s, count_s = [], []
    for _ in range(args.repeat):
        fresh = pipeline()
        began = time.process_time()
        for event in events:
            fresh.apply(event)
        apply_s.append(time.process_time() - began)
        metrics = ProcessMetrics(spec.name)
        began = time.process_time()
        for index, (topic, emits) in enumerate(outputs):
            metrics.observe_record(topic, emits)
            if index % args.batch == 0:
                metrics.observe_batch(time.perf_counter(), 1)
        count_s.append(time.process_time() - began)
    apply_us = statistics.median(apply_s) * 1e6 / orders
    count_us = statistics.median(count_s) * 1e6 / orders
    report = {
        "orders": orders,
        "inputs": len(events),
        "outputs": sum(len(emits) for _, emits in outputs),
        "path_us_per_order": round(apply_us, 2),
        "metrics_us_per_order": round(count_us, 3),
        "metrics_share_of_path": round(count_us / apply_us, 4),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{orders} orders ({len(events)} inputs, {report['outputs']} outputs): the order path's cores "
            f"{apply_us:.1f} µs/order; the engine's counting {count_us:.2f} µs/order "
            f"({100 * count_us / apply_us:.2f} % of the cores' work)"
        )


if __name__ == "__main__":
    main()
