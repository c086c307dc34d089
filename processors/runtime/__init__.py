"""Runs any pure core on an engine: ``kafka`` (transactional confluent-kafka loop) or ``faust``."""
