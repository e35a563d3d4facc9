"""The command line: `xunjian serve|migrate|create-user|demo` (also `python -m server`)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _prepare(demo: bool) -> None:
    from server.demo import DEMO_PASSWORD, DEMO_USERS, load_demo
    from server.migrate import migrate

    await migrate()
    if demo:
        result = await load_demo()
        state = "created" if result["created"] else "already present"
        print(f"Demo site 阳光花园 {state}. Logins (password {DEMO_PASSWORD}):")
        for username, name, role in DEMO_USERS:
            print(f"  {username:<12} {role:<11} {name}")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from server.settings import get_settings

    _run(_prepare(args.demo))
    settings = get_settings()
    print(f"Xunjian on http://{args.host}:{args.port}/  (data: {settings.data_path}, "
          f"database: {'PostgreSQL' if settings.is_postgres else settings.sqlite_path})", flush=True)
    uvicorn.run("server.asgi:app", host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, proxy_headers=True)


def cmd_migrate(args: argparse.Namespace) -> None:
    from server.migrate import migrate

    _run(migrate())
    print("Database is up to date.")


def cmd_demo(args: argparse.Namespace) -> None:
    _run(_prepare(True))


def cmd_create_user(args: argparse.Namespace) -> None:
    from server.migrate import migrate
    from server.sites.tables import Site
    from server.staff.services import create_staff

    password = args.password or os.environ.get("XUNJIAN_NEW_PASSWORD") or getpass.getpass("Password: ")

    async def go() -> None:
        await migrate()
        site_ids = []
        for name in args.site or []:
            site = await Site.objects().where(Site.name == name).first()
            if site is None:
                sys.exit(f"No site named {name!r}")
            site_ids.append(site.id)
        staff = await create_staff(args.username, args.name or args.username, args.role, password, site_ids)
        print(f"Created {staff.username} ({staff.role}).")

    _run(go())


def cmd_backup(args: argparse.Namespace) -> None:
    from pathlib import Path

    from server.backup import backup

    print(f"Backup written to {backup(Path(args.destination))}")


def cmd_restore(args: argparse.Namespace) -> None:
    from pathlib import Path

    from server.backup import restore
    from server.migrate import migrate

    result = restore(Path(args.archive), force=args.force)
    _run(migrate())  # an older backup is brought up to the current schema
    print(f"Restored ({result['photo_files']} photo files).")


def main(argv: list[str] | None = None) -> None:
    from server import wiring
    from server.errors import AppError

    wiring.install()

    parser = argparse.ArgumentParser(prog="xunjian", description="Xunjian 巡检 server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run migrations, then serve HTTP")
    serve.add_argument("--demo", action="store_true", help="load the demo site and users first")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="load the demo site and users").set_defaults(func=cmd_demo)
    create = sub.add_parser("create-user", help="create a staff account")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=["guard", "cleaner", "gardener", "technician", "supervisor", "admin"])
    create.add_argument("--name", default="")
    create.add_argument("--password", default="", help="prompted for when omitted")
    create.add_argument("--site", action="append", help="site name (repeatable)")
    create.set_defaults(func=cmd_create_user)
    backup = sub.add_parser("backup", help="write the database, photos and keys to a tar file")
    backup.add_argument("destination", nargs="?", default="./backups")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="restore a backup tar into an empty data directory and database")
    restore.add_argument("archive")
    restore.add_argument("--force", action="store_true", help="overwrite what is there")
    restore.set_defaults(func=cmd_restore)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except AppError as exc:
        sys.exit(f"error: {exc.reason}")
