"""The router: works algorithmic parent orders into child orders (docs/EXECUTION.md)."""
