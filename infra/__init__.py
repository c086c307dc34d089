"""How the real parts start: a local Apache Kafka (KRaft) broker and PostgreSQL server (``sq infra``)."""
