"""Small process and port helpers shared by the local broker and database."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from pathlib import Path

MIN_FREE_DISK_BYTES = 1 << 30


class InfraError(RuntimeError):
    """A local service could not be started or stopped; the message says what to do next."""


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metadata_answers(kafka_config: dict[str, object], timeout_s: float) -> bool:
    """True when a Kafka cluster answers a metadata request; quiet (no librdkafka connect errors)."""
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({**kafka_config, "log_level": 0}).list_topics(timeout=timeout_s)  # type: ignore[dict-item]
    except Exception:
        return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def terminate(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM, wait for a clean exit, SIGKILL when it does not come."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid) or is_zombie(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return False


def require_free_disk(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_DISK_BYTES:
        raise InfraError(
            f"only {free // (1 << 20)} MiB free under {path}; the broker and database need at least "
            f"{MIN_FREE_DISK_BYTES >> 20} MiB: free some disk or point SQ_HOME elsewhere"
        )


def require_command(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise InfraError(f"`{name}` was not found on PATH: {hint}")
    return found


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"
