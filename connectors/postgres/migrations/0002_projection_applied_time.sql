-- The broker timestamp (ms) of the newest record applied from each partition: a projection that is behind
-- is this long behind the log (`GET /v1/health`, `sq status`). Null until a record is applied.
ALTER TABLE projection_offsets ADD COLUMN applied_time_ms bigint;
