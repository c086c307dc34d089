"""The inputs of the analytics (processors/analytics), gathered from the projections and the topics: what the
API's analytics routes and `sq portfolio` / `sq tca` share."""
