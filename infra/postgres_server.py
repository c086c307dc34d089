"""A local PostgreSQL server from Debian's ``postgresql`` package, on 127.0.0.1.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` user on a data folder
it owns (under its home, because a checkout in a private temporary folder is not readable by it), in a folder
named after ``$SQ_HOME`` so that each checkout has a database of its own, as it has a broker of its own; as any
other user they run as that user under ``$SQ_HOME/postgres``. Which log a database projects is checked on every
start (infra/local_state.py). The server is reached over TCP with a
password (the application role) and over a Unix socket in the data folder (administration).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from infra.process import InfraError, log_tail, port_is_open, require_free_disk
from settings import LOCAL_DB_NAME, LOCAL_DB_PASSWORD, LOCAL_DB_USER

READY_TIMEOUT_S = 60


def find_bin_dir() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name),
        reverse=True,
    )
    if candidates:
        return candidates[0].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise InfraError(
        "PostgreSQL's server programs (initdb, pg_ctl) were not found: run `make install` (it installs Debian's "
        "postgresql package when run as root) or set DATABASE_URL to an existing server"
    )


def _running_as_root() -> bool:
    return os.geteuid() == 0


@dataclass(frozen=True)
class LocalPostgres:
    home: Path
    port: int

    @property
    def data_dir(self) -> Path:
        if _running_as_root():
            home_id = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
            return Path(pwd.getpwnam("postgres").pw_dir) / "shrivenquant" / home_id / f"pg-{self.port}"
        return self.home / "postgres" / "data"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"pg-{self.port}.log"

    @property
    def started_marker(self) -> Path:
        return self.home / "postgres.started"

    @property
    def url(self) -> str:
        return f"postgresql://{LOCAL_DB_USER}:{LOCAL_DB_PASSWORD}@127.0.0.1:{self.port}/{LOCAL_DB_NAME}"

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    def running_here(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists() and port_is_open(self.port)

    def start(self) -> bool:
        """Start (initialising once) and create the role and database; False if one already answered here."""
        if port_is_open(self.port):
            if self.answers():
                return False
            if not self.running_here():
                raise InfraError(
                    f"port {self.port} is taken by a program that does not accept the ShrivenQuant role: stop "
                    "it, choose another port with SQ_POSTGRES_PORT, or set DATABASE_URL"
                )
        bin_dir = find_bin_dir()
        require_free_disk(self.home)
        self._init(bin_dir)
        if not port_is_open(self.port):
            self._pg_ctl(bin_dir, "start")
            self.started_marker.parent.mkdir(parents=True, exist_ok=True)
            self.started_marker.write_text(str(self.data_dir))
        self._create_role_and_database()
        return True

    def stop(self) -> bool:
        if not self.started_marker.exists():
            return False
        data_dir = Path(self.started_marker.read_text().strip() or self.data_dir)  # where it was started
        self.started_marker.unlink()
        if not (data_dir / "postmaster.pid").exists():
            return False
        self._pg_ctl(find_bin_dir(), "stop", data_dir)
        return True

    def crash(self) -> None:
        """Stop the server as a crash does (``pg_ctl stop -m immediate``: every process quits at once, no
        checkpoint; the next start runs crash recovery), whoever started it. For fault tests on a server of
        their own."""
        self._run([str(find_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"], "crash")

    def remove(self) -> None:
        """Delete the stopped server's data folder and log (a fault test's own server, when it is done)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)

    # -- internals ----------------------------------------------------------------------------------
    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if _running_as_root() else argv

    def _run(self, argv: list[str], what: str) -> None:
        result = subprocess.run(self._as_owner(argv), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InfraError(
                f"{what} failed ({' '.join(argv[:2])}):\n{(result.stdout + result.stderr)[-2000:]}\n"
                f"server log ({self.log_file}):\n{log_tail(self.log_file)}"
            )

    def _init(self, bin_dir: Path) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            shutil.chown(self.data_dir.parent, "postgres", "postgres")
            shutil.chown(self.data_dir, "postgres", "postgres")
        self.data_dir.chmod(0o700)
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-instructions",
            ],
            "initdb",
        )

    def _pg_ctl(self, bin_dir: Path, action: str, data_dir: Path | None = None) -> None:
        data_dir = data_dir or self.data_dir
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data_dir} "
            "-c max_connections=200 -c shared_buffers=128MB"
        )
        argv = [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-w", "-t", str(READY_TIMEOUT_S)]
        if action == "start":
            argv += ["-l", str(self.log_file), "-o", options, "start"]
        else:
            argv += ["-m", "fast", "stop"]
        self._run(argv, f"pg_ctl {action}")

    def _admin_connect(self) -> psycopg.Connection[tuple[object, ...]]:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                return psycopg.connect(
                    host=str(self.data_dir),
                    port=self.port,
                    user="postgres",
                    dbname="postgres",
                    autocommit=True,
                )
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _create_role_and_database(self) -> None:
        with self._admin_connect() as conn:
            if conn.execute("select 1 from pg_roles where rolname = %s", (LOCAL_DB_USER,)).fetchone() is None:
                conn.execute(
                    sql.SQL("create role {} login createdb password {}").format(
                        sql.Identifier(LOCAL_DB_USER), sql.Literal(LOCAL_DB_PASSWORD)
                    )
                )
            exists = conn.execute("select 1 from pg_database where datname = %s", (LOCAL_DB_NAME,)).fetchone()
            if exists is None:
                conn.execute(
                    sql.SQL("create database {} owner {}").format(
                        sql.Identifier(LOCAL_DB_NAME), sql.Identifier(LOCAL_DB_USER)
                    )
                )
