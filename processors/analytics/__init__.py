"""Portfolio and execution analytics: pure numpy/pandas computations (no I/O, no clock), shared by the API and
`sq` (connectors/analytics gathers their inputs from the projections and the topics)."""
