"""A throwaway PostgreSQL server for the index's tests and benchmark: Debian's `postgresql`
package (installed by `make setup` as root), started with initdb + pg_ctl in a temporary
directory on a free port (as the `postgres` user when run as root: PostgreSQL refuses to run as
root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from chain.devchain import free_port


def pg_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PgServer:
    port: int
    _counter: int = 0

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        self._counter += 1
        name = f"index_test_{self._counter}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@contextmanager
def pg_server() -> Iterator[PgServer]:
    """Start PostgreSQL; raises RuntimeError (with the reason) if it cannot be started."""
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL is not installed: `make setup` installs Debian's postgresql package when "
            "run as root (apt-get install -y postgresql)"
        )
    root = os.geteuid() == 0
    as_user = ["runuser", "-u", "postgres", "--"] if root else []
    workdir = Path(tempfile.mkdtemp(prefix="gridshare-pg-"))
    if root:
        shutil.chown(workdir, "postgres", "postgres")
    data, logfile, port = workdir / "data", workdir / "server.log", free_port()

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = logfile.read_text() if logfile.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}{log}")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-o", options,
            "-w", "-t", "60", "start")  # fmt: skip
        try:
            yield PgServer(port)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
