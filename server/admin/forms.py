"""Reading HTML form fields into typed values; anything unreadable is a 400 with a reason, never a 500."""

from __future__ import annotations

import uuid
from typing import Any

from server.errors import Invalid
from server.ids import parse_uuid


def text(form: Any, name: str, max_length: int = 200, required: bool = False, label: str = "") -> str:
    value = str(form.get(name) or "").strip()
    if required and not value:
        raise Invalid(f"请填写{label or name} / {name} is required", field=name)
    if len(value) > max_length:
        raise Invalid(f"{label or name}太长 (最多{max_length}字) / {name} is longer than {max_length} characters",
                      field=name)
    return value


def integer(form: Any, name: str, minimum: int, maximum: int, default: int | None = None) -> int:
    raw = str(form.get(name) or "").strip()
    if not raw and default is not None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name}必须是整数 / {name} must be a whole number", field=name) from None
    if not minimum <= value <= maximum:
        raise Invalid(f"{name}必须在{minimum}到{maximum}之间 / {name} must be between {minimum} and {maximum}",
                      field=name)
    return value


def number(raw: Any, name: str, minimum: float, maximum: float) -> float | None:
    """A decimal number within bounds, or None for an empty field."""
    raw = str(raw or "").strip().replace("，", ".")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Invalid(f"{name}必须是数字 / {name} must be a number", field=name) from None
    if value != value or not minimum <= value <= maximum:
        raise Invalid(f"{name}必须在{minimum:g}到{maximum:g}之间 / {name} must be between {minimum:g} and {maximum:g}",
                      field=name)
    return value


def position(form: Any) -> tuple[float | None, float | None]:
    """An optional latitude/longitude pair: both or neither."""
    lat = number(form.get("lat"), "lat", -90, 90)
    lng = number(form.get("lng"), "lng", -180, 180)
    if (lat is None) != (lng is None):
        raise Invalid("纬度和经度需同时填写 / give both latitude and longitude, or neither", field="lat")
    return lat, lng


def optional_id(form: Any, name: str) -> uuid.UUID | None:
    raw = str(form.get(name) or "").strip()
    if not raw:
        return None
    value = parse_uuid(raw)
    if value is None:
        raise Invalid(f"{name}无效 / {name} is not valid", field=name)
    return value


def ids(form: Any, name: str) -> list[uuid.UUID]:
    """Every id posted under `name` (checkbox lists); unreadable ones are refused."""
    out = []
    for raw in form.getall(name, []) if hasattr(form, "getall") else form.get(name) or []:
        value = parse_uuid(str(raw).strip())
        if value is None:
            raise Invalid(f"{name}无效 / {name} is not valid", field=name)
        out.append(value)
    return out


def checked(form: Any, name: str) -> bool:
    return str(form.get(name) or "").lower() in ("1", "on", "true", "yes")
