"""The example strategies `sq backtest --strategy NAME` and `sq strategy run NAME` know."""
