"""A throwaway PostgreSQL cluster for tests: a temp data directory, a free loopback port.

Used by subacct's own test suite (and available to hosts running the conformance kit on
PostgreSQL). The server binaries (``initdb``, ``pg_ctl``) must be installed: on Debian,
``apt-get install postgresql`` (``scripts/install-postgres`` does it). A missing server
raises ``ClusterUnavailable``: tests fail loudly, they never skip.

    with TempCluster() as cluster:
        store = PostgresStore(cluster.conninfo())
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["ClusterUnavailable", "TempCluster", "find_bindir"]


class ClusterUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed or the cluster did not start."""


def find_bindir(debian_root: str = "/usr/lib/postgresql") -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (``$PG_BINDIR``, the PATH, or
    ``<debian_root>/<newest version>/bin``)."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    versions = glob.glob(f"{debian_root}/*/bin")
    candidates += sorted(versions, key=lambda p: Path(p).parent.name, reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise ClusterUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them "
        "(Debian: 'apt-get install postgresql', or run scripts/install-postgres) "
        "or set PG_BINDIR."
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_MEMORY_DIR = Path("/dev/shm")
_MEMORY_NEEDED = 1 << 30  # a throwaway cluster of a test session stays well below 1 GiB


def _scratch_dir() -> str | None:
    """Where the cluster lives: in memory (``/dev/shm``) when it is there with room to
    spare, which halves the cost of a schema migration; else the default temp dir."""
    try:
        free = os.statvfs(_MEMORY_DIR)
    except OSError:
        return None
    roomy = free.f_bavail * free.f_frsize >= _MEMORY_NEEDED
    return str(_MEMORY_DIR) if roomy and os.access(_MEMORY_DIR, os.W_OK) else None


class TempCluster:
    """initdb + pg_ctl start on 127.0.0.1:<free port>; ``stop()`` removes everything.
    The data directory is in memory when ``/dev/shm`` has room (see ``_scratch_dir``).
    ``stop_server()`` and ``start_server()`` take the server down and up again, its data
    kept (for tests of a database that goes away)."""

    def __init__(self, *, max_connections: int = 100) -> None:
        self.bindir = find_bindir()
        self.port = _free_port()
        self._max_connections = max_connections
        self._root = Path(tempfile.mkdtemp(prefix="subacct-pg-", dir=_scratch_dir()))
        self.datadir = self._root / "data"
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self._started = False

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:  # the server refuses to run as root: use the postgres user
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ClusterUnavailable(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def start(self) -> Self:
        if self._as_root:
            shutil.chown(self._root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start_server()
        return self

    def start_server(self) -> None:
        """Start the server on the cluster's data directory and port (again, after
        ``stop_server``)."""
        options = (
            f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections={self._max_connections}"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self._root / "log"),
            "-w",
            "start",
        )
        self._started = True

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server and keep its data (``mode``: ``pg_ctl -m``; ``immediate`` is a
        crash). Clients' connections break; ``start_server`` brings it back."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")
        self._started = False

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def stop(self) -> None:
        try:
            if self._started:
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        finally:
            self._started = False
            shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
