"""Avro schemas of every ShrivenQuant event, their codec, and the fixed-point scales amounts use.

- `schemas.scales`: the one home of fixed-point scales and exact decimal <-> integer conversion.
- `schemas.registry`: loads `schemas/avro/*.avsc` (and historical writer versions).
- `schemas.codec`: Avro single-object encoding over fastavro; `default_codec()` for the shipped schemas.
- `schemas.examples`: one valid, realistic record per event schema.
- `schemas.types`: generated TypedDicts and Literal aliases (`python -m schemas.generate_types`).
- `schemas.names`: generated, one constant per schema full name (code names schemas by these).
- `schemas.statuses`: the order statuses that end an order and the event types that report a fill.
"""
