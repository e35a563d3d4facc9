"""Test setup: the environment is set before the app is imported (litestar-fullstack style).

Every pytest process gets a fresh data directory and, when XUNJIAN_TEST_PG names
a PostgreSQL server, a fresh database on it; the demo data is loaded once.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(tempfile.mkdtemp(prefix="xunjian-test-"))
CHROMIUM = "/usr/lib/chromium/chromium"


def _create_pg_database(admin_url: str) -> str:
    """A new empty database on the test cluster; returns its URL."""
    import asyncpg

    name = f"xj_{uuid.uuid4().hex[:12]}"

    async def go() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    # In a thread of its own: once a Playwright browser test has run, this thread may have an
    # event loop running (a live server started after it would fail with asyncio.run here).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, go()).result()
    return admin_url.rsplit("/", 1)[0] + "/" + name


PG_ADMIN_URL = os.environ.get("XUNJIAN_TEST_PG", "")
os.environ["XUNJIAN_DATA_DIR"] = str(DATA_DIR)
os.environ["XUNJIAN_DB_POOL_SIZE"] = "0"  # tests also query from their own event loops
os.environ["XUNJIAN_SCHEDULER_SECONDS"] = "0"
os.environ["XUNJIAN_PUBLIC_URL"] = "http://testserver.local"
# The cheapest argon2id: the suite hashes and verifies passwords hundreds of times (every login,
# every staff member made); test_foundation_setup checks the production parameters.
os.environ["XUNJIAN_PASSWORD_HASH"] = "argon2id-test"
os.environ["PICCOLO_CONF"] = "piccolo_conf"
if PG_ADMIN_URL:
    os.environ["DATABASE_URL"] = _create_pg_database(PG_ADMIN_URL)
else:
    os.environ.pop("DATABASE_URL", None)
sys.path.insert(0, str(ROOT))

from litestar.testing import TestClient  # noqa: E402

from server.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from server.migrate import migrate  # noqa: E402
from server.wiring import install as install_subscribers  # noqa: E402

install_subscribers()  # tests calling services without the app still notify and count photos

ON_POSTGRES = bool(PG_ADMIN_URL)
if ON_POSTGRES:
    from pg_connections import app_lifespan, connection_scope, reuse_connections
    from server.db import engine

    reuse_connections(engine())


def run(awaitable: Any) -> Any:
    """Run a coroutine or a Piccolo query from a synchronous test.

    Sync Playwright keeps an event loop running in the main thread once a
    browser has started, so there the coroutine runs on a loop of its own thread.
    """

    async def wait() -> Any:
        if ON_POSTGRES:  # its PostgreSQL connections are reused until it returns
            async with connection_scope():
                return await awaitable
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wait()).result()


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Browser tests last: fast feedback first, and one Playwright loop for the tail of the session.

    Tests marked `postgres` are left out on SQLite (deselected, not skipped): they
    need several processes on one PostgreSQL, and scripts/test.sh runs them there.
    """
    if not ON_POSTGRES:
        postgres_only = [item for item in items if item.get_closest_marker("postgres")]
        if postgres_only:
            config.hook.pytest_deselected(items=postgres_only)
            items[:] = [item for item in items if not item.get_closest_marker("postgres")]
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def pytest_report_header(config: Any) -> str:
    return f"xunjian database: {'PostgreSQL ' + os.environ['DATABASE_URL'] if ON_POSTGRES else 'SQLite in ' + str(DATA_DIR)}"


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[None]:
    """The migrated database with the demo site, shared by the whole session."""
    run(migrate())
    run(load_demo())
    yield
    shutil.rmtree(DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def app() -> Any:
    from server.app import create_app

    return create_app(extra_lifespan=[app_lifespan] if ON_POSTGRES else None)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """An anonymous browser-like client (cookies kept between requests)."""
    with TestClient(app=app, base_url="http://testserver.local") as c:
        yield c


def csrf_of(client: TestClient, path: str = "/login") -> str:
    """The CSRF token a page's form carries."""
    html = client.get(path).text
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token in {path}"
    return match.group(1)


def login(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> Any:
    token = csrf_of(client)
    return client.post("/login", data={"username": username, "password": password, "_csrf_token": token},
                       follow_redirects=False)


@pytest.fixture
def login_as(client: TestClient) -> Callable[[str], TestClient]:
    def go(username: str, password: str = DEMO_PASSWORD) -> TestClient:
        response = login(client, username, password)
        assert response.status_code == 303, response.text
        return client

    return go


def device_token(client: TestClient, username: str, password: str = DEMO_PASSWORD, device_id: str | None = None) -> str:
    response = client.post("/api/auth/device", json={
        "username": username, "password": password, "device_id": device_id or str(uuid.uuid4()),
        "device_name": "pytest phone",
    })
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture
def demo_site() -> Any:
    from server.sites.tables import Site

    return run(Site.objects().where(Site.name == "阳光花园").first())


@pytest.fixture
def make_site() -> Iterator[Callable[..., dict[str, Any]]]:
    """A fresh site of its own (level 2 unless asked) with one user per role, for isolation and scope tests.

    After the test its sites are made inactive (rows kept, nothing else touched): the
    scheduler's missed-slot run materialises and settles every active site's windows,
    and the hundreds of sites earlier tests left behind made each later run take minutes.
    """
    from server.sites.services import add_checkpoint, add_zone, create_site, generate_templates
    from server.sites.tables import Site
    from server.staff.services import create_staff

    made: list[Any] = []

    def make(level: int = 2, roles: tuple[str, ...] = ("guard", "cleaner", "gardener", "technician", "supervisor", "admin")) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            tag = uuid.uuid4().hex[:8]
            site = await create_site(f"测试小区-{tag}", level=level)
            made.append(site.id)
            zone = await add_zone(site.id, "1号楼")
            checkpoints = []
            for kind in ("core", "car_park", "gate", "bin_point", "drain_well", "tree_group", "light", "corridor"):
                cp, secret, code = await add_checkpoint(site.id, f"{kind}-{tag}", kind, zone_id=zone.id)
                checkpoints.append({"checkpoint": cp, "secret": secret, "code": code})
            templates = await generate_templates(site.id)
            users = {}
            for role in roles:
                users[role] = await create_staff(f"{role}-{tag}", f"{role} {tag}", role, DEMO_PASSWORD, [site.id])
            return {"site": site, "zone": zone, "checkpoints": checkpoints, "templates": templates, "users": users, "tag": tag}

        return run(go())

    yield make
    if made:
        run(Site.update({Site.active: False}).where(Site.id.is_in(made)))


@pytest.fixture(scope="module", autouse=True)
def retire_module_sites() -> Iterator[None]:
    """Sites a test module made (module fixtures, console_data.new_site) are made inactive when it ends.

    As make_site's are after each test, and for the same reason: every settling of missed
    slots works through every active site's windows, so sites left behind by earlier
    modules made each later settling test slower (test_missed_slots_settle_once_when_run_concurrently
    spent 20 s on SQLite settling the windows of sites the console modules had made).
    """
    from server.sites.tables import Site

    def active() -> set[Any]:
        return {r["id"] for r in run(Site.select(Site.id).where(Site.active == True))}  # noqa: E712

    before = active()
    yield
    made = list(active() - before)
    if made:
        run(Site.update({Site.active: False}).where(Site.id.is_in(made)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The real server as a separate process (uvicorn), with its own data directory and database."""

    def __init__(self, data_dir: Path, env_extra: dict[str, str] | None = None, database_url: str = "",
                 name: str = "server") -> None:
        """`database_url`: share another live server's PostgreSQL database (several processes, one database)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.env = {**os.environ, "XUNJIAN_DATA_DIR": str(data_dir), "XUNJIAN_PUBLIC_URL": self.url,
                    "XUNJIAN_DB_POOL_SIZE": "5", **(env_extra or {})}
        if ON_POSTGRES:
            self.env["DATABASE_URL"] = database_url or _create_pg_database(PG_ADMIN_URL)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / f"{name}.log"

    def start(self) -> "LiveServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--demo", "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        # Generous: on a loaded two-core machine migrating and loading the demo takes a while.
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()  # never leave a half-started server behind
        raise RuntimeError("server did not start in 180 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer(Path(tempfile.mkdtemp(prefix="xunjian-live-"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    """One sync_playwright per process: every browser fixture comes from here."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser(playwright_instance: Any) -> Iterator[Any]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()
