"""Who may open the console, on which sites; and the site-local clock pages are drawn in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from server.errors import Forbidden
from server.sites.services import get_site
from server.sites.tables import Site
from server.staff.services import require_site, site_ids_of
from server.staff.tables import SUPERVISOR_ROLES, Staff


def now() -> datetime:
    return datetime.now(timezone.utc)


def require_console(user: Staff) -> None:
    """Field staff work on the phone; the console is for supervisors and admins."""
    if user.role not in SUPERVISOR_ROLES:
        raise Forbidden("主管台仅供主管和管理员使用 / the console is for supervisors and admins", code="forbidden")


@dataclass(frozen=True)
class SiteClock:
    """A site and its local time zone, for day and month boundaries."""

    site: Site

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone or "Asia/Shanghai")

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def today(self, at: datetime | None = None) -> date:
        return self.local(at or now()).date()

    def day_start(self, day: date) -> datetime:
        """The UTC instant local midnight of `day` begins."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(timezone.utc)

    def day_range(self, day: date) -> tuple[datetime, datetime]:
        return self.day_start(day), self.day_start(day + timedelta(days=1))

    def month_range(self, year: int, month: int) -> tuple[datetime, datetime]:
        first = date(year, month, 1)
        following = date(year + (month == 12), month % 12 + 1, 1)
        return self.day_start(first), self.day_start(following)


async def console_site(user: Staff, site_id: Any) -> SiteClock:
    """The site a console page is about: 403 for field staff, 404 outside the person's sites."""
    require_console(user)
    await require_site(user, site_id, SUPERVISOR_ROLES)
    return SiteClock(await get_site(site_id))


async def console_sites(user: Staff) -> list[Site]:
    """The sites this supervisor or admin answers for, by name."""
    require_console(user)
    ids = await site_ids_of(user.id)
    if not ids:
        return []
    return await Site.objects().where(Site.id.is_in(ids) & (Site.active == True)).order_by(Site.name)  # noqa: E712
