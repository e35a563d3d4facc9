"""Notifications: the inbox, Web Push, WeCom, and the rules of who hears of what.

`install()` subscribes notify's handlers to the domains' events (server/events.py).
"""

from __future__ import annotations


def install() -> None:
    """Subscribe notify to the domains' events; the app does it at startup, tests in their conftest."""
    from server.notify.events import install as subscribe_handlers

    subscribe_handlers()
