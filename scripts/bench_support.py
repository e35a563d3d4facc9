"""What every benchmark part shares: databases, server processes, results, percentiles.

A part runs in its own Python process (scripts/bench_<part>.py) because the
database a process talks to is fixed when it first imports the server (Piccolo
reads `piccolo_conf` once). The parts print their own table when run alone and,
with `--json`, one `@@BENCH {...}` line per figure for scripts/bench.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "@@BENCH "
CACHE_DIR = Path(tempfile.gettempdir()) / "xunjian-bench-cache"


# --- results ----------------------------------------------------------------------------------------

@dataclass
class Figure:
    """One line of the benchmark table."""

    part: str  # sync apply, load, photos, field app
    setup: str  # SQLite, PostgreSQL x2 ...
    measure: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: no goal
    raw: dict[str, Any] = field(default_factory=dict)  # the numbers behind `value`, for machines


def emit(figures: Iterable[Figure], as_json: bool) -> None:
    """Print a part's figures: a table for people, or result lines for scripts/bench.py."""
    figures = list(figures)
    if as_json:
        for f in figures:
            print(RESULT_MARK + json.dumps(asdict(f), ensure_ascii=False, default=str), flush=True)
    else:
        print(table(figures), flush=True)


def table(figures: list[Figure]) -> str:
    """A Markdown table (it pastes into the README as it is)."""
    rows = [("part", "setup", "measure", "value", "goal")]
    for f in figures:
        goal = f.goal
        if f.goal and f.met is not None:
            goal += " ✓" if f.met else " ✗"
        rows.append((f.part, f.setup, f.measure, f.value, goal))
    widths = [max(_width(r[i]) for r in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def parse_results(stdout: str) -> list[Figure]:
    return [Figure(**json.loads(line[len(RESULT_MARK):])) for line in stdout.splitlines()
            if line.startswith(RESULT_MARK)]


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `samples`; 0 when there are none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else 0.0


def log(message: str) -> None:
    """Progress goes to stderr so stdout stays the table (or the result lines)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- databases --------------------------------------------------------------------------------------

def pg_server_url() -> str:
    """A PostgreSQL server the bench may create databases on, when one is given."""
    return os.environ.get("XUNJIAN_BENCH_PG", "") or os.environ.get("DATABASE_URL", "")


def _admin_call(admin_url: str, sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def create_database(admin_url: str) -> str:
    """A new empty database on that server; returns its URL."""
    name = f"xjbench_{uuid.uuid4().hex[:12]}"
    _admin_call(admin_url, f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    try:
        _admin_call(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # noqa: BLE001 - a leftover database is not worth failing the run
        log(f"could not drop {name}: {exc}")


class PgCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1, started the way scripts/test.sh does.

    Unlike the test cluster it keeps fsync on: these figures should hold on a
    real deployment, where commits reach the disk.
    """

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
        if not found:
            raise RuntimeError("no PostgreSQL binaries in /usr/lib/postgresql (apt-get install postgresql)")
        self.bin = found[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="xunjian-bench-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_pg(self, *args: str) -> None:
        command = [str(a) for a in args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{c}'" for c in command)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> "PgCluster":
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        self._as_pg(self.bin / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                    "--locale=C.UTF-8")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
        self._as_pg(self.bin / "pg_ctl", "-D", data, "-l", self.dir / "log", "-w", "-o", options, "start")
        return self

    def stop(self) -> None:
        try:
            self._as_pg(self.bin / "pg_ctl", "-D", self.dir / "data", "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Database:
    """Where one part's server keeps its data: a data directory, and a PostgreSQL database or SQLite."""

    data_dir: Path
    url: str = ""  # empty: SQLite in data_dir
    admin_url: str = ""

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.url else "SQLite"

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "XUNJIAN_DATA_DIR": str(self.data_dir), "PICCOLO_CONF": "piccolo_conf", **extra}
        if self.url:
            env["DATABASE_URL"] = self.url
        else:
            env.pop("DATABASE_URL", None)
        return env

    def apply_env(self) -> None:
        """Point this process at the database (before anything imports the server)."""
        os.environ.update(self.env())
        if not self.url:
            os.environ.pop("DATABASE_URL", None)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))

    def drop(self) -> None:
        if self.url and self.admin_url:
            drop_database(self.admin_url, self.url)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def fresh_database(pg_admin_url: str = "") -> Database:
    """A new data directory, and a new database on `pg_admin_url` when given (else SQLite)."""
    data_dir = Path(tempfile.mkdtemp(prefix="xunjian-bench-"))
    if pg_admin_url:
        return Database(data_dir, create_database(pg_admin_url), pg_admin_url)
    return Database(data_dir)


def database_from_args(pg: str) -> Database:
    """The database a part's process was told to use (`--pg URL` of a server, or SQLite)."""
    db = fresh_database(pg)
    db.apply_env()
    return db


# --- server processes -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`xunjian serve` as its own process on a free port (several may share one database)."""

    def __init__(self, db: Database, name: str = "server", demo: bool = False, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.demo = demo
        self.env = db.env(XUNJIAN_PUBLIC_URL=self.url, **env)
        self.log = db.data_dir / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300) -> "ServerProcess":
        command = [sys.executable, "-m", "server", "serve", "--port", str(self.port), "--log-level", "warning"]
        if self.demo:
            command.append("--demo")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def errors(self, limit: int = 4000) -> str:
        """The end of the server's log when it logged an exception (empty otherwise)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-limit:] if "Traceback" in text else ""

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
