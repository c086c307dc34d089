"""The one error hierarchy of the schemas package: callers catch `SerializationError`."""


class SerializationError(Exception):
    """Base of every error raised by schema loading, encoding and decoding."""


class EncodeError(SerializationError):
    """A record could not be encoded: unknown schema name, or the record does not match the schema."""


class DecodeError(SerializationError):
    """Bytes could not be decoded: bad header, unknown writer schema, or a body that does not parse."""


class UnknownSchemaError(DecodeError):
    """The bytes name a writer schema (by fingerprint) that is neither a current nor a historical one."""


class SchemaError(SerializationError):
    """The schema files are inconsistent, or a schema name is unknown or ambiguous."""
