"""What the field app's service worker precaches, and the version that names it.

Everything is computed once at start-up from the files on disk: the shell
HTML, the boot data (both catalogues and the finding categories), the
manifest, and every static file of the app. The version is a content hash of all of them, so a deployment that
changes any byte makes phones install a new service worker and drop the old
cache, and one that changes nothing keeps them quiet.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from server import i18n, standard
from server.pages import WEB_DIR

STATIC_DIR = WEB_DIR / "static"
SW_TEMPLATE = WEB_DIR / "templates" / "app" / "sw.js"
# The notifications domain adds its push handlers here; the SW imports it when present.
SW_PUSH_FILE = STATIC_DIR / "sw-push.js"
# Static folders the field app needs offline (the console's own files are not precached).
PRECACHED_DIRS = ("app", "vendor", "icons")
PRECACHED_SUFFIXES = (".js", ".css", ".png", ".svg", ".json", ".webp")
SHELL_URL = "/app"
BOOT_URL = "/app/boot.json"
MANIFEST_URL = "/manifest.webmanifest"
THEME_COLOUR = "#0b6e4f"
BACKGROUND_COLOUR = "#f6f7f6"
# Keys of the shared catalogue the app shows besides its own domain file.
SHARED_KEY_PREFIXES = ("role.", "notify.push.", "notify.inbox.")  # the push switch and inbox of app/ext/
SHARED_KEYS = ("app.name",)


@dataclass(frozen=True)
class AppBundle:
    shell: bytes
    boot: bytes
    manifest: bytes
    service_worker: bytes
    version: str
    precache: tuple[str, ...]


def static_files() -> list[Path]:
    """The static files the app precaches, in a stable order."""
    files: list[Path] = []
    for folder in PRECACHED_DIRS:
        base = STATIC_DIR / folder
        if base.is_dir():
            files += [p for p in base.rglob("*") if p.is_file() and p.suffix in PRECACHED_SUFFIXES]
    return sorted(files)


def static_url(path: Path) -> str:
    return "/static/" + path.relative_to(STATIC_DIR).as_posix()


def app_catalogue(language: str) -> dict[str, str]:
    """The keys the field app shows: its own domain file plus a few shared ones."""
    own = json.loads((i18n.CATALOGUE_DIR / language / "app.json").read_text(encoding="utf-8"))
    shared = i18n.catalogue(language)
    extra = {k: v for k, v in shared.items() if k.startswith(SHARED_KEY_PREFIXES) or k in SHARED_KEYS}
    return {**extra, **own}


def categories() -> list[dict[str, Any]]:
    return [{k: c[k] for k in ("code", "zh", "en", "icon")} | {"reception": bool(c.get("reception"))}
            for c in standard.categories()]


def extension_modules() -> list[str]:
    """Modules other domains drop into web/static/app/ext/ (loaded after the app starts)."""
    base = STATIC_DIR / "app" / "ext"
    return [static_url(p) for p in sorted(base.glob("*.js"))] if base.is_dir() else []


def render_shell() -> bytes:
    # Kept small: on the first visit it travels twice (the page, then the worker's precache).
    env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("app/shell.html").render(theme=THEME_COLOUR).encode("utf-8")


def render_boot() -> bytes:
    """What the app needs before its first screen: both catalogues, the categories, extension modules."""
    boot = {
        "i18n": {lang: app_catalogue(lang) for lang in i18n.LANGUAGES},
        "default_language": i18n.DEFAULT_LANGUAGE,
        "categories": categories(),
        "extensions": extension_modules(),
    }
    return json.dumps(boot, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def render_manifest() -> bytes:
    manifest = {
        "name": "巡检 Xunjian",
        "short_name": "巡检",
        "description": "物业巡查与整改 / property inspections and rectifications",
        "lang": "zh-CN",
        "id": SHELL_URL,
        "start_url": SHELL_URL,
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [
            {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": "/static/icons/icon-maskable-512.png", "sizes": "512x512", "type": "image/png",
             "purpose": "maskable"},
        ],
    }
    return json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")


def build_bundle() -> AppBundle:
    """Shell, manifest, precache list and the service worker that carries the version."""
    shell, boot, manifest = render_shell(), render_boot(), render_manifest()
    assets: list[tuple[str, bytes]] = [(SHELL_URL, shell), (BOOT_URL, boot), (MANIFEST_URL, manifest)]
    assets += [(static_url(p), p.read_bytes()) for p in static_files()]
    template = SW_TEMPLATE.read_text(encoding="utf-8")
    push = SW_PUSH_FILE.read_bytes() if SW_PUSH_FILE.is_file() else b""
    digest = hashlib.sha256()
    for url, body in [*assets, ("sw-template", template.encode()), ("sw-push", push)]:
        digest.update(url.encode() + b"\0" + hashlib.sha256(body).digest())
    version = digest.hexdigest()[:20]
    config = {
        "version": version,
        "shell": SHELL_URL,
        "precache": [url for url, _ in assets],
        # Per-file content hashes: a new version copies unchanged files from the old cache
        # instead of downloading them again (phones pay for their data).
        "files": {url: hashlib.sha256(body).hexdigest()[:16] for url, body in assets},
        "imports": ["/static/sw-push.js"] if push else [],
    }
    sw = template.replace("/*XJ_CONFIG*/{}", json.dumps(config, ensure_ascii=False, indent=1))
    return AppBundle(shell=shell, boot=boot, manifest=manifest, service_worker=sw.encode("utf-8"), version=version,
                     precache=tuple(config["precache"]))


@lru_cache(maxsize=1)
def current_bundle() -> AppBundle:
    """The bundle of this server process (computed once; a restart picks up new files)."""
    return build_bundle()
