"""The WeCom (企业微信) group robot channel: one optional webhook URL per site.

The webhook URL carries the robot's key, so it is a secret: it is read from the
site row at send time, never copied into the outbox, never logged and only ever
shown masked. A failing robot is retried with back-off and never touches Web
Push, which has its own queue.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlparse

import httpx

from server import i18n
from server.db import write_transaction
from server.notify import dispatch
from server.notify.tables import OutboundMessage
from server.settings import get_settings
from server.sites.tables import Site

log = logging.getLogger("xunjian.notify.wecom")

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 120
TIMEOUT_SECONDS = 10
CONTENT_MAX_BYTES = 4000  # the robot refuses markdown over 4096 bytes
_KEY_IN_URL = re.compile(r"(key=)[^&\s\"']+")


class _RedactKeys(logging.Filter):
    """httpx logs every request URL at INFO: the robot's key must not reach the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _KEY_IN_URL.sub(r"\1***", record.getMessage())
        record.args = None
        return True


logging.getLogger("httpx").addFilter(_RedactKeys())


def now() -> datetime:
    return datetime.now(timezone.utc)


def mask(url: str) -> str:
    """A webhook URL fit to show: host and the first and last characters of the key."""
    if not url:
        return ""
    parsed = urlparse(url)
    key = dict(parse_qsl(parsed.query)).get("key", "")
    shown = f"{key[:4]}…{key[-4:]}" if len(key) > 12 else "…"
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path}?key={shown}"


def valid_webhook(url: str) -> bool:
    """What an admin may save as a site's robot URL (empty turns the channel off)."""
    if not url:
        return True
    parsed = urlparse(url)
    return parsed.scheme in ("https", "http") and bool(parsed.netloc) and len(url) <= 1000


def _escape(text: str) -> str:
    # Reported notes are free text: keep them on one line and unable to add links or headings.
    return " ".join(str(text).split()).replace("[", "［").replace("]", "］").replace("<", "‹").replace(">", "›")


def markdown(heading: str, rows: list[tuple[str, str]], link: str, *, warning: bool = True) -> str:
    """A robot markdown message: a coloured heading, quoted facts, and a link to open it."""
    language = i18n.normalise(get_settings().default_language)
    colour = "warning" if warning else "comment"
    lines = [f'### <font color="{colour}">{_escape(heading)}</font>']
    for label, value in rows:
        if value:
            lines.append(f"> {i18n.translate(language, label)}: {_escape(value)}")
    lines.append(f"[{i18n.translate(language, 'notify.wecom.open')}]({link})")
    content = "\n".join(lines)
    while len(content.encode()) > CONTENT_MAX_BYTES and len(lines) > 2:
        lines.pop(-2)
        content = "\n".join(lines)
    return content


def group_language() -> str:
    """A group chat has no single reader: it gets the server's default language."""
    return i18n.normalise(get_settings().default_language)


async def enqueue(site: Site, event_key: str, content: str) -> bool:
    """Queue a message for the site's robot, once per event; False when the site has no robot."""
    if not site.wecom_webhook:
        return False
    body = json.dumps({"msgtype": "markdown", "markdown": {"content": content}}, ensure_ascii=False)
    async with write_transaction():
        rows = await OutboundMessage.insert(OutboundMessage(
            id=uuid.uuid4(), site_id=site.id, event_key=event_key[:200], body=body, next_try_at=now(),
        )).on_conflict(action="DO NOTHING").returning(OutboundMessage.id)
    if rows:
        dispatch.wake()
    return bool(rows)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at an hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


async def _claim(at: datetime, limit: int) -> list[OutboundMessage]:
    """Take due messages for this process; a claim that outlives a crash expires after CLAIM_SECONDS."""
    due = await OutboundMessage.select(OutboundMessage.id).where(
        OutboundMessage.state.is_in(["pending", "sending"]) & (OutboundMessage.next_try_at <= at)
    ).order_by(OutboundMessage.next_try_at).limit(limit)
    claimed = []
    for row in due:
        async with write_transaction():
            taken = await OutboundMessage.update({
                OutboundMessage.state: "sending", OutboundMessage.next_try_at: at + timedelta(seconds=CLAIM_SECONDS),
            }).where(
                (OutboundMessage.id == row["id"]) & OutboundMessage.state.is_in(["pending", "sending"])
                & (OutboundMessage.next_try_at <= at)
            ).returning(*OutboundMessage.all_columns())
        claimed.extend(OutboundMessage(**r) for r in taken)
    return claimed


async def _post(client: httpx.AsyncClient, url: str, body: str) -> str | None:
    """Post one message; None on success, else a short reason (never the URL)."""
    try:
        response = await client.post(url, content=body.encode(), headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        return f"network: {type(exc).__name__}"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        answer = response.json()
    except ValueError:
        return "answer is not JSON"
    if answer.get("errcode", 0) != 0:
        return f"errcode {answer.get('errcode')}: {str(answer.get('errmsg', ''))[:100]}"
    return None


async def send_pending(at: datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Post every due message; returns counts of sent, retried, failed and dropped."""
    at = at or now()
    counts = {"sent": 0, "retried": 0, "failed": 0, "dropped": 0}
    messages = await _claim(at, limit)
    if not messages:
        return counts
    sites = {s.id: s for s in await Site.objects().where(Site.id.is_in(list({m.site_id for m in messages})))}
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        for message in messages:
            site = sites.get(message.site_id)
            url = site.wecom_webhook if site is not None else ""
            if not url:
                state, error = "dropped", "no webhook configured"
            else:
                error = await _post(client, url, message.body)
                state = "sent" if error is None else "pending"
            attempts = message.attempts + (0 if state == "dropped" else 1)
            next_try = at
            if state == "pending":
                if attempts >= MAX_ATTEMPTS:
                    state = "failed"
                else:
                    next_try = at + backoff(attempts)
                log.warning("WeCom robot of site %s failed (attempt %d): %s", message.site_id, attempts, error)
            counts[{"sent": "sent", "pending": "retried", "failed": "failed", "dropped": "dropped"}[state]] += 1
            async with write_transaction():
                await OutboundMessage.update({
                    OutboundMessage.state: state, OutboundMessage.attempts: attempts,
                    OutboundMessage.next_try_at: next_try, OutboundMessage.last_error: (error or "")[:300],
                }).where(OutboundMessage.id == message.id)
    return counts
