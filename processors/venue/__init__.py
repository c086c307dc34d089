"""The simulated venue: price-time priority books per (venue, symbol) and their matching."""

from processors.venue.config import DEFAULT_CONFIG, VenueConfig
from processors.venue.core import VenueCore
from processors.venue.matching import Fees

__all__ = ["DEFAULT_CONFIG", "Fees", "VenueConfig", "VenueCore"]
