"""PostgreSQL projections: migrations, the sink that maintains them from the topics, and read models."""
