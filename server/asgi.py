"""The ASGI entry point for uvicorn (`server.asgi:app`)."""

import os

os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")

from server.app import create_app  # noqa: E402

app = create_app()
