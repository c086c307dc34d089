"""Which partition a key lands on: the Java client's default partitioner (murmur2), which ours use too.

Every producer of ours is configured with ``PARTITIONER``, so librdkafka hashes keys exactly as the Java client
and aiokafka do, and a key lands on the same partition whichever tool produced it: co-partitioned inputs
depend on it. The runtime computes the same function to know which changelog partition a state key belongs
to (``partition_for``), so it never has to remember where a key was seen.
"""

from __future__ import annotations

from typing import Final

PARTITIONER: Final = "murmur2_random"  # librdkafka: murmur2 for keyed records, random for records without a key

_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``), as an unsigned int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length - whole
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: str, partitions: int) -> int:
    """The partition a record with this key goes to, of a topic with ``partitions`` partitions."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
