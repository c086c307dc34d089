"""Audit: an order's causal story read back from the log (index in PostgreSQL, records from Kafka)."""
