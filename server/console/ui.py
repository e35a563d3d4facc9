"""Rendering helpers for console templates: site-local times, category names, one page or its partial."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request
from litestar.response import Template

from server import i18n, standard
from server.console.access import SiteClock
from server.console.filters import round_kinds
from server.pages import request_language


class Ui:
    """What templates need to show domain values in the person's language and the site's time zone."""

    def __init__(self, clock: SiteClock | None, language: str) -> None:
        self.clock = clock
        self.language = language

    def when(self, moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        if moment is None:
            return "—"
        return (self.clock.local(moment) if self.clock else moment).strftime(pattern)

    def hm(self, moment: datetime | None) -> str:
        return self.when(moment, "%H:%M")

    def local_input(self, moment: datetime | None) -> str:
        """A value for <input type="datetime-local">."""
        return self.when(moment, "%Y-%m-%dT%H:%M") if moment else ""

    def category(self, code: str) -> str:
        cat = standard.category(code)
        return i18n.pick(cat["zh"], cat["en"], language=self.language) if cat else code

    def categories(self, reception: bool | None = None) -> list[tuple[str, str]]:
        return [(c["code"], self.category(c["code"])) for c in standard.categories()
                if reception is None or bool(c.get("reception")) == reception]

    def kinds(self) -> tuple[str, ...]:
        return round_kinds()

    def name(self, zh: str | None, en: str | None) -> str:
        return i18n.pick(zh or "", en or "", language=self.language)

    def sla(self, code: str) -> str:
        row = next((d for d in standard.standard()["deadlines"] if d["code"] == code), None)
        return i18n.pick(row["zh"], row["en"], language=self.language) if row else code

    def slas(self) -> list[tuple[str, str]]:
        return [(d["code"], self.sla(d["code"])) for d in standard.standard()["deadlines"]]

    def level(self, level: int) -> str:
        row = standard.standard()["levels"].get(str(level), {})
        return i18n.pick(row.get("zh", str(level)), row.get("en", str(level)), language=self.language)

    def pct(self, value: float | None) -> str:
        return "—" if value is None else f"{value:g}%"


def render(request: Request, page_template: str, partial_template: str, *, status_code: int = 200,
           **context: Any) -> Template:
    """One template, two renderings: the whole page, or only its partial for an htmx request."""
    clock = context.get("clock")
    context.setdefault("ui", Ui(clock, request_language(request)))
    context.setdefault("site", clock.site if clock else None)
    details = getattr(request, "htmx", None)
    htmx = bool(details) and not details.boosted and not details.history_restore_request
    return Template(template_name=partial_template if htmx else page_template, context=context,
                    status_code=status_code)
