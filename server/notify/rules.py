"""Who learns of what: the event rules behind the hooks in events.py and the scheduler's jobs.

| event | kind | who | also |
|---|---|---|---|
| emergency finding | emergency | the site's supervisors, at once | WeCom |
| normal finding | digest | the site's supervisors, grouped per site for DIGEST_MINUTES | |
| assignment | assigned | the assignee | |
| deadline within 1 h | due_soon | assignee and supervisors | |
| deadline passed | overdue | assignee and supervisors | WeCom |
| patrol window missed | missed_slot | the site's supervisors | WeCom |
| reopen | reopened | the assignee | |

Each person hears of each event once (the inbox's dedup key); the person who
caused an event is not told of it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from server import i18n
from server.bulk import execute, fetch, insert_rows
from server.changes import next_position
from server.db import write_transaction
from server.notify import dispatch, links, wecom
from server.notify.inbox import Draft, active_staff, dedup_key, json_value, language_of, store, supervisors_of
from server.notify.messages import digest_text, local_time, rect_text, slot_text
from server.notify.tables import DigestItem, Notification
from server.rectifications import services as rectifications
from server.rectifications.tables import Rectification, RectTransition
from server.rounds import schedule
from server.rounds.tables import PatrolSlot, RoundTemplate
from server.sites.tables import Checkpoint, Site, Zone
from server.staff.tables import Staff

log = logging.getLogger("xunjian.notify")

DIGEST_MINUTES = 15
DUE_SOON = timedelta(hours=1)
OPEN_STATES = ("open", "assigned", "in_progress", "reopened")
EMERGENCY_SLA = "sla.emergency_repair"


def now() -> datetime:
    return datetime.now(timezone.utc)


def field(record: Any, name: str) -> Any:
    """A column of a Piccolo row or of a plain dict (hooks get either)."""
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


async def _site(site_id: Any) -> Site | None:
    return await Site.objects().where(Site.id == site_id).first()


async def _place(finding: Any) -> str:
    checkpoint_id, zone_id = field(finding, "checkpoint"), field(finding, "zone")
    if checkpoint_id is not None:
        row = await Checkpoint.select(Checkpoint.name).where(Checkpoint.id == checkpoint_id).first()
        if row:
            return row["name"]
    if zone_id is not None:
        row = await Zone.select(Zone.name).where(Zone.id == zone_id).first()
        if row:
            return row["name"]
    return ""


def _rect_drafts(people: list[Staff], kind: str, event_key: str, rect: Any, site: Site, place: str = "",
                 note: str | None = None) -> list[Draft]:
    drafts = []
    for person in people:
        title, body = rect_text(
            kind, language_of(person), site=site.name, category=field(rect, "category"), place=place,
            note=field(rect, "note") if note is None else note, due=field(rect, "due_at"),
            timezone=site.timezone, severity=field(rect, "severity"),
        )
        drafts.append(Draft(staff=person, kind=kind, event_key=event_key, title=title, body=body,
                            url=links.rectification(field(rect, "id"), person.role, site.id)))
    return drafts


def _wecom_rect(kind: str, rect: Any, site: Site, place: str, assignee: Staff | None = None) -> str:
    language = wecom.group_language()
    title, _body = rect_text(kind, language, site=site.name, category=field(rect, "category"), place="", note="",
                             due=None, timezone=site.timezone)
    return wecom.markdown(title, [
        ("notify.wecom.site", site.name), ("notify.wecom.place", place),
        ("notify.wecom.note", field(rect, "note") or ""),
        ("notify.wecom.due", local_time(field(rect, "due_at"), site.timezone)),
        ("notify.wecom.assignee", assignee.name if assignee else ""),
    ], links.absolute(links.rectification(field(rect, "id"), "supervisor", site.id)))


async def emergency_finding(finding: Any, rect: Any) -> None:
    site = await _site(field(rect, "site"))
    if site is None:
        return
    await _emergency(site, await supervisors_of(site.id, exclude=[field(finding, "reporter")]), finding, rect)


async def _emergency(site: Site, people: list[Staff], finding: Any, rect: Any) -> None:
    place = await _place(finding)
    key = f"emergency:{field(rect, 'id')}"
    await store(_rect_drafts(people, "emergency", key, rect, site, place, note=field(finding, "note") or ""))
    await wecom.enqueue(site, key, _wecom_rect("emergency", rect, site, place))


async def digest_finding(finding: Any, rect: Any) -> None:
    """Add a normal finding to each supervisor's open digest of the site (or open one for DIGEST_MINUTES)."""
    site = await _site(field(rect, "site"))
    if site is not None:
        await _digest(site, field(finding, "reporter"), [rect])


async def findings_reported(pairs: list[tuple[Any, Any]], sites: dict[Any, Site] | None = None) -> None:
    """Many findings at once (a sync push): each site and its supervisors are read once, not per finding."""
    groups: dict[tuple[Any, Any], list[tuple[Any, Any]]] = {}
    for finding, rect in pairs:
        groups.setdefault((field(rect, "site"), field(finding, "reporter")), []).append((finding, rect))
    for (site_id, reporter), group in groups.items():
        site = (sites or {}).get(site_id) or await _site(site_id)
        if site is None:
            continue
        emergencies = [(f, r) for f, r in group if field(r, "severity") == "emergency"]
        if emergencies:
            people = await supervisors_of(site.id, exclude=[reporter])
            for finding, rect in emergencies:
                await _emergency(site, people, finding, rect)
        normal = [r for _f, r in group if field(r, "severity") != "emergency"]
        if normal:
            await _digest(site, reporter, normal)


_NOTIFICATION = Notification._meta.tablename
_HELD_DIGESTS = (f'SELECT "id", "staff", "data" FROM "{_NOTIFICATION}" WHERE "kind" = \'digest\' '
                 'AND "push_state" = \'held\' AND "event_key" LIKE ? AND "staff" IN ({people})')
_KNOWN_ITEMS = f'SELECT "dedup_key" FROM "{DigestItem._meta.tablename}" WHERE "dedup_key" IN ({{keys}})'
_GROW_DIGEST = (f'UPDATE "{_NOTIFICATION}" SET "title" = ?, "body" = ?, "data" = ?, "seq" = ? '
                'WHERE "id" = ? AND "push_state" = \'held\'')


def _counted(data: dict[str, Any], categories: list[str]) -> dict[str, Any]:
    """A digest's data with more findings: a count per category, what its text is made from."""
    counts = dict(data.get("counts") or {})
    for code in categories:
        counts[code] = counts.get(code, 0) + 1
    return {**data, "counts": counts}


async def _digest(site: Site, reporter: Any, rects: list[Any]) -> None:
    """Add normal findings' rectifications, in order, to each supervisor's open digest of the site.

    The findings a digest holds are rows of their own (DigestItem), not a list in the digest:
    a push adds its own findings and rewrites only the digest's title and counts.
    """
    at = now()
    changed = False
    async with write_transaction():
        # The change counter first, as every writer of pulled rows takes it: two pushes with findings of
        # one site queue here and land in one digest, not two (and in the same lock order as a push).
        seq = await next_position()
        people = await supervisors_of(site.id, exclude=[reporter])
        if not people:
            return
        # Every supervisor's open digest of the site, and which of these findings they were told of, in a query each.
        held: dict[Any, dict[str, Any]] = {}
        for row in await fetch(_HELD_DIGESTS.format(people=", ".join("?" for _ in people)),
                               f"digest:{site.id}:%", *[person.id for person in people]):
            row["data"] = json_value(row["data"], {})
            held.setdefault(row["staff"], row)
        keys = {person.id: [dedup_key(person.id, str(field(r, "id"))) for r in rects] for person in people}
        every = [key for person_keys in keys.values() for key in person_keys]
        known: set[str] = set()
        for start in range(0, len(every), 500):
            part = every[start:start + 500]
            known.update(r["dedup_key"] for r in await fetch(_KNOWN_ITEMS.format(keys=", ".join("?" for _ in part)),
                                                               *part))
        items = []
        for person in people:
            # A hook that ran twice adds nothing.
            fresh = [(r, key) for r, key in zip(rects, keys[person.id]) if key not in known]
            if not fresh:
                continue
            digest = held.get(person.id)
            data = _counted(digest["data"] if digest else {"site_id": str(site.id)},
                            [field(r, "category") for r, _ in fresh])
            title, body = digest_text(language_of(person), site=site.name, counts=data["counts"])
            if digest is None:
                event_key = f"digest:{site.id}:{field(fresh[0][0], 'id')}"
                created = await store([Draft(staff=person, kind="digest", event_key=event_key, title=title, body=body,
                                             url=links.findings_to_review(site.id), data=data,
                                             hold_until=at + timedelta(minutes=DIGEST_MINUTES))])
                if not created:
                    continue
                notification = created[0]
            else:
                await execute(_GROW_DIGEST, title, body, json.dumps(data), seq, digest["id"])
                notification = digest["id"]
            items += [{"notification": notification, "dedup_key": key} for _, key in fresh]
            changed = True
        await insert_rows(DigestItem, items)
    if changed:
        dispatch.wake()


async def release_digests(at: datetime | None = None) -> int:
    """Digests whose collecting time is over go out (or stay quiet for people who muted digests)."""
    at = at or now()
    rows = await Notification.select(Notification.id, Notification.staff).where(
        (Notification.push_state == "held") & (Notification.push_next_at <= at))
    if not rows:
        return 0
    muted = {s["id"]: json_value(s["muted"], []) for s in await Staff.select(Staff.id, Staff.muted).where(
        Staff.id.is_in(list({r["staff"] for r in rows})))}
    released = 0
    for row in rows:
        state = "muted" if "digest" in muted.get(row["staff"], []) else "pending"
        async with write_transaction():
            done = await Notification.update({Notification.push_state: state, Notification.push_next_at: at}).where(
                (Notification.id == row["id"]) & (Notification.push_state == "held")).returning(Notification.id)
        released += len(done)
    if released:
        dispatch.wake()
    return released


async def _last_transition(rect_id: Any, action: str) -> RectTransition | None:
    return await RectTransition.objects().where(
        (RectTransition.rectification == rect_id) & (RectTransition.action == action)
        & (RectTransition.outcome == "applied")
    ).order_by(RectTransition.position, ascending=False).first()


async def to_assignee(rect: Any, kind: str, action: str) -> None:
    """Assignment or reopen: the assignee hears of it, unless they did it themselves."""
    assignee = await active_staff(field(rect, "assignee"))
    site = await _site(field(rect, "site"))
    if assignee is None or site is None:
        return
    step = await _last_transition(field(rect, "id"), action)
    if step is not None and step.actor == assignee.id:
        return
    key = f"{kind}:{field(rect, 'id')}:{step.id if step is not None else assignee.id}"
    note = step.note if step is not None and kind == "reopened" and step.note else None
    await store(_rect_drafts([assignee], kind, key, rect, site, note=note))


async def missed_slot(slot: Any) -> None:
    site = await _site(field(slot, "site"))
    template = await RoundTemplate.objects().where(RoundTemplate.id == field(slot, "template")).first()
    if site is None or template is None:
        return
    # Told only of a window the one rule still calls missed (server/rounds/schedule.py): a round
    # that was offline may have settled it meanwhile, and a window before the site or template
    # existed is no slot at all.
    stored = await PatrolSlot.select(PatrolSlot.status).where(PatrolSlot.id == field(slot, "id")).first()
    if stored is None or stored["status"] != "missed":
        return
    if not schedule.exists(field(slot, "window_end"), schedule.since_of(site, template)):
        return
    key = f"missed_slot:{field(slot, 'id')}"
    start, end = field(slot, "window_start"), field(slot, "window_end")
    drafts = []
    for person in await supervisors_of(site.id):
        language = language_of(person)
        title, body = slot_text(language, site=site.name, start=start, end=end, timezone=site.timezone,
                                round_name=i18n.pick(template.name_zh, template.name_en, language=language))
        drafts.append(Draft(staff=person, kind="missed_slot", event_key=key, title=title, body=body,
                            url=links.missed_slots(site.id)))
    await store(drafts)
    language = wecom.group_language()
    title, _ = slot_text(language, site=site.name, start=start, end=end, timezone=site.timezone,
                         round_name=i18n.pick(template.name_zh, template.name_en, language=language))
    await wecom.enqueue(site, key, wecom.markdown(title, [
        ("notify.wecom.site", site.name),
        ("notify.wecom.window", f"{local_time(start, site.timezone)}–{local_time(end, site.timezone, False)}"),
    ], links.absolute(links.missed_slots(site.id))))


async def check_deadlines(at: datetime | None = None) -> dict[str, int]:
    """Warn of deadlines within the hour and of deadlines passed (then flag the rectification overdue)."""
    at = at or now()
    rows = await Rectification.objects().where(
        Rectification.state.is_in(list(OPEN_STATES)) & Rectification.due_at.is_not_null()
        # Arrival on site stops the emergency-repair clock (30 min to be there, not to be done); stopped
        # clocks stay out of the query, or every started emergency would be read each period forever.
        & ((Rectification.sla_code != EMERGENCY_SLA) | Rectification.started_at.is_null())
        & (
            ((Rectification.due_at > at) & (Rectification.due_at <= at + DUE_SOON))
            | ((Rectification.due_at <= at) & (Rectification.overdue_flagged == False))  # noqa: E712
        )
    ).order_by(Rectification.due_at)
    counts = {"due_soon": 0, "overdue": 0}
    sites: dict[Any, Site | None] = {}
    for rect in rows:
        if rect.site not in sites:
            sites[rect.site] = await _site(rect.site)
        site = sites[rect.site]
        if site is None:
            continue
        kind = "overdue" if rect.due_at <= at else "due_soon"
        if kind == "due_soon" and rect.due_at - rect.created_at <= DUE_SOON:
            continue  # a clock of an hour or less (emergencies) was announced when it started
        assignee = await active_staff(rect.assignee)
        people = ([assignee] if assignee else []) + await supervisors_of(site.id, exclude=[rect.assignee])
        key = f"{kind}:{rect.id}:{int(rect.due_at.timestamp())}"
        counts[kind] += len(await store(_rect_drafts(people, kind, key, rect, site)))
        if kind == "overdue":
            await wecom.enqueue(site, key, _wecom_rect("overdue", rect, site, "", assignee))
            await rectifications.flag_overdue(rect.id, rect.due_at)
    return counts
