"""The test kit: builders that the tests and bench/ share (import-linter keeps it free of test modules).

- ``events``: event meta, order commands, order events, trade prints; run a core, read what it emits.
- ``books``: md.depth snapshots and updates.
- ``flows``: seeded order flows as the events a pipeline takes, with market data and control events.
- ``order_stream``: a synthetic order-path stream (order events, fills, positions) for the sink.
- ``round_trip``: one example of every event type through its catalogue topic and back.

Per-area builder modules (``tests/processors/risk/_risk_builders.py``, ...) shape these for their tests.
"""
