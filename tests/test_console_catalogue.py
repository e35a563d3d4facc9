"""Every console text exists in Chinese and English: no screen shows a bare key."""

from __future__ import annotations

import json
import re
from pathlib import Path

from server import standard
from server.rectifications.services import ACTIONS, STATES

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*ROOT.glob("web/templates/console/*.html"), *ROOT.glob("server/console/*.py"), *ROOT.glob("server/reports/*.py")]


def catalogue(lang: str) -> dict[str, str]:
    return json.loads((ROOT / "web" / "i18n" / lang / "console.json").read_text(encoding="utf-8"))


def test_both_languages_have_the_same_keys_and_no_empty_text():
    zh, en = catalogue("zh-CN"), catalogue("en")
    assert zh.keys() == en.keys()
    assert all(v.strip() for v in [*zh.values(), *en.values()])
    assert all(re.findall(r"{(\w+)}", zh[k]) == re.findall(r"{(\w+)}", en[k]) for k in zh)  # same placeholders


def test_every_key_the_console_uses_is_in_the_catalogue():
    keys = catalogue("zh-CN")
    used = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""["'](console\.[a-z_]+(?:\.[a-z_]+)+)["']""", text))
    assert len(used) > 150
    assert sorted(k for k in used if k not in keys) == []
    families = {
        "console.state.": [*STATES, "unfixed", "unverified"], "console.action.": [*ACTIONS, "open", "deadline",
                                                                                "followup"],
        "console.slot.": ["pending", "current", "done", "late", "missed"],
        "console.proof.": ["qr", "code", "unverified", "empty", "none"], "console.proof_kind.": ["qr", "code", "none"],
        "console.severity.": ["emergency", "normal"], "console.source.": ["field", "reception", "phone", "console"],
        "console.round_state.": ["open", "finished"], "console.channel.": ["phone", "walk_in", "other"],
        "console.kind.": sorted({r["kind"] for r in standard.round_rows()}),
    }
    assert sorted(p + v for p, vs in families.items() for v in vs if p + v not in keys) == []
