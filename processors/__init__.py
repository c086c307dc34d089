"""Stream processors: a pure core each (``processors/<name>/core.py``) run by ``processors/runtime``."""
