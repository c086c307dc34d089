"""Market data in: Binance spot, USD-M and COIN-M futures over WebSocket + REST, and recorded files (CSV, Parquet).

Pure modules (no I/O, unit-tested in milliseconds): ``messages`` (the venue-neutral message model),
``records`` (messages → Avro records), ``binance_messages`` (Binance frames → messages), ``book_sync``
(Binance's local-book synchronisation procedure, with the rules of ``processors.orderbook.sequencing``),
``binance_feed`` (one feed session: frames and resync requests in, records out), ``backoff``, ``tape`` (the
recorded-file row format), ``synthetic`` (the seeded sample session).
Edges: ``binance_client`` (asyncio WebSocket/REST loop), ``status_watch`` (md.feed.status, where the order book
asks for resyncs), ``tape_io`` (CSV/Parquet reading, Parquet writing), ``file_feed`` (plays recorded files),
``sink`` (Kafka producer plus optional recorder), ``sample`` (writes the shipped sample).
"""
