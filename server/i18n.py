"""Translation catalogues (web/i18n/<language>/*.json, one file per domain), shared by the
server's templates and the field app's JS. Every language has the same keys (a test checks)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "web" / "i18n"
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


@lru_cache(maxsize=None)
def catalogue(language: str) -> dict[str, str]:
    """All keys of a language, merged from its domain files."""
    merged: dict[str, str] = {}
    for path in sorted((CATALOGUE_DIR / language).glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def normalise(language: str | None) -> str:
    """A supported language for what a person or browser asked for."""
    if not language:
        return DEFAULT_LANGUAGE
    language = language.strip()
    if language.lower().startswith("en"):
        return "en"
    return "zh-CN"


def translate(language: str, key: str, **params: Any) -> str:
    """The text of `key`; a missing key shows as itself so tests can find it."""
    text = catalogue(normalise(language)).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**params) if params else text


def pick(*names: str, language: str) -> str:
    """The zh or en one of a pair of names (data carries both)."""
    zh, en = names
    return en if normalise(language) == "en" and en else zh
