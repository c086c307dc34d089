"""The topic catalogue: the single home of topic names, keys, value schemas and retention."""

from topics.catalogue import CATALOGUE, TopicSpec, spec_for

__all__ = ["CATALOGUE", "TopicSpec", "spec_for"]
