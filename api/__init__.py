"""The HTTP edge: commands in (produced to Kafka), queries out (PostgreSQL projections), streaming, auth."""
