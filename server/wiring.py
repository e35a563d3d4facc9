"""Who listens to which domain event (server/events.py): composed once, like server/app.py.

The app calls `install()` when it is imported; the command line and the tests'
conftest call it too, so services used without the app still notify and still
count arriving photos. Idempotent.
"""

from __future__ import annotations


def install() -> None:
    """Subscribe every handler: notify's, and the domains' own (photos arriving on their records)."""
    from server import events
    from server.notify import install as install_notify
    from server.rectifications.writer import photo_arrived as rectifications_photo_arrived
    from server.rounds.writer import photo_arrived as rounds_photo_arrived

    install_notify()
    events.subscribe(events.PhotoArrived, rounds_photo_arrived)
    events.subscribe(events.PhotoArrived, rectifications_photo_arrived)
