"""Execution algorithms: the instruction a parent order carries, validated into a plan, and the pure schedulers
that decide its child orders (docs/EXECUTION.md). Shared by the OMS (which refuses a parent whose instruction
is invalid) and the router core (which works it)."""
