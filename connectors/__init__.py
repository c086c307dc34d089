"""The edges: market data in, projections out, synthetic order flow."""
