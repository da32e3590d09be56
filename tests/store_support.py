"""Fixtures for the operational-store tests: the same tests run on SQLite and on a throwaway PostgreSQL.

The PostgreSQL cluster is Debian's `postgresql` package (scripts/system_packages.sh installs it), started
once per test session in a temporary folder on a free loopback port and stopped at the end; each test gets
a database of its own. As root the cluster runs as the `postgres` user (initdb refuses root).
Import the fixtures into a test module: `from tests.store_support import store_url  # noqa: F401`.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port

ENGINES = ("sqlite", "postgresql")


def find_pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps initdb off PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    port: int
    base: Path
    bin_dir: Path
    run_as: list[str]
    _names = itertools.count(1)

    @property
    def data(self) -> Path:
        return self.base / "data"

    def new_database(self) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


# Each test module imports the fixture and so gets its own session-scoped copy of it; they share one server.
_shared: list[PostgresServer] = []


@pytest.fixture(scope="session")
def postgres_server(request) -> PostgresServer:
    if not _shared:
        _shared.append(_start_server())
        request.addfinalizer(_stop_server)
    return _shared[0]


def _start_server() -> PostgresServer:
    bin_dir = find_pg_bin()
    root = os.geteuid() == 0
    if bin_dir is None:
        if root:
            pytest.fail("PostgreSQL is not installed: run scripts/system_packages.sh (./test.sh does) to "
                        "install Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed and this user cannot apt-get it (not root); "
                    "the operational-store tests ran on SQLite only")
    base = Path(tempfile.mkdtemp(prefix="retail-pulse-pg-"))
    run_as: list[str] = []
    if root:  # initdb and postgres refuse to run as root
        pg = pwd.getpwnam("postgres")
        os.chown(base, pg.pw_uid, pg.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    server = PostgresServer(port, base, bin_dir, run_as)
    _run([*run_as, str(bin_dir / "initdb"), "-D", str(server.data), "--auth=trust", "-U", "postgres",
          "-E", "UTF8", "--no-locale"], base)
    _run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(server.data), "-l", str(base / "server.log"),
          "-o", f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c max_connections=200", "-w", "start"], base)
    return server


def _stop_server() -> None:
    server = _shared.pop()
    subprocess.run([*server.run_as, str(server.bin_dir / "pg_ctl"), "-D", str(server.data), "-m", "fast", "stop"],
                   capture_output=True)
    shutil.rmtree(server.base, ignore_errors=True)


def _run(command: list[str], base: Path) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        log = base / "server.log"
        server_log = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]} {server_log}")


@pytest.fixture(params=ENGINES)
def store_url(request, tmp_path) -> str:
    """A URL for an empty store, once on SQLite (a file in tmp_path) and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
def store(store_url):
    from data.store import open_store

    opened = open_store(store_url)
    yield opened
    opened.close()
