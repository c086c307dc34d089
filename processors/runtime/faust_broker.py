"""The settings' Kafka cluster as faust (aiokafka) takes it: broker URLs, credentials, replication.

Every other client of the project is librdkafka and takes the settings' ``KAFKA_*`` properties as they are.
faust is aiokafka underneath and names its settings differently: this maps the security properties a managed
cluster needs (``security.protocol``, ``sasl.mechanism``, ``sasl.username``, ``sasl.password``, the TLS
files) and refuses any other property, rather than run a worker that silently ignores it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import faust

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
TLS_PROPERTIES = ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password")
SASL_PROPERTIES = ("sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password")
# librdkafka properties that only tune the client; aiokafka's own defaults stand in for them.
IGNORABLE = ("client.id",)


def broker_urls(bootstrap_servers: str) -> str:
    """faust's form of a server list: ``kafka://host:port`` for each, ``;``-separated."""
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip())


def tls_context(properties: Mapping[str, str]) -> ssl.SSLContext:
    """A client TLS context: the CA file (else the system's), and a client certificate for mutual TLS."""
    context = ssl.create_default_context(cafile=properties.get("ssl.ca.location"))
    if "ssl.certificate.location" in properties:
        context.load_cert_chain(
            properties["ssl.certificate.location"],
            properties.get("ssl.key.location"),
            properties.get("ssl.key.password"),
        )
    return context


def broker_credentials(properties: Mapping[str, str]) -> Any:
    """faust's credentials for the settings' security properties (None: plaintext); a ValueError names a
    property faust cannot honour."""
    unknown = sorted(set(properties) - {"security.protocol", *TLS_PROPERTIES, *SASL_PROPERTIES, *IGNORABLE})
    if unknown:
        raise ValueError(
            f"the faust engine cannot apply KAFKA_* properties {', '.join(unknown)} (only the security ones); "
            "run the kafka engine, or unset them for this worker"
        )
    protocol = properties.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(f"security.protocol {protocol!r}: choose one of {', '.join(SECURITY_PROTOCOLS)}")
    context = tls_context(properties) if protocol.endswith("SSL") else None
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=properties.get("sasl.username"),
            password=properties.get("sasl.password"),
            ssl_context=context,
            mechanism=properties.get("sasl.mechanism") or properties.get("sasl.mechanisms") or "PLAIN",
        )
    return faust.SSLCredentials(context) if context is not None else None
