"""Audit, replay and backtest: the log read back (`sq verify`, `sq audit`, `sq replay`, `sq backtest`)."""
