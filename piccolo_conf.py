"""Piccolo's configuration: the engine comes from server.settings (DATABASE_URL or SQLite)."""

from piccolo.conf.apps import AppRegistry

from server.db import make_engine

DB = make_engine()

APP_REGISTRY = AppRegistry(apps=["server.piccolo_app"])
