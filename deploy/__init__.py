"""How the parts run together on one machine: the stack `sq up` and `sq demo` start (infra, topics, migrations,
supervised workers, the sink, the API) and the demo's trading session, driven through the API."""
