"""GET /photos/{sha256}: re-encoded copies (no EXIF, upright, bounded sizes) and who may see them."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from PIL import Image

from conftest import device_token, run
from photo_samples import encode, jpeg, phone_jpeg_with_gps, scene, sha


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(client: Any, token: str, data: bytes, content_type: str = "image/jpeg") -> str:
    response = client.put(f"/sync/photos/{sha(data)}", content=data,
                          headers={**bearer(token), "Content-Type": content_type})
    assert response.status_code == 201, response.text
    return sha(data)


def image_of(response: Any) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    return Image.open(io.BytesIO(response.content))


def link_to_visit(site: dict[str, Any], user: Any, shas: list[str]) -> uuid.UUID:
    """A round with one visit referencing these photos (through the rounds services)."""
    from server.rounds.services import record_visit, start_round

    template = next(t for t in site["templates"] if t.role == user.role)
    at = datetime.now(timezone.utc)
    rnd = run(start_round(uuid.uuid4(), template, user, at, at))
    visit_id = uuid.uuid4()
    run(record_visit(visit_id, rnd, site["checkpoints"][0]["checkpoint"], user, proof="qr", proof_verified=True,
                     scanned_at=at, device_at=at, answers=[], photos=shas))
    return visit_id


@pytest.fixture
def site_phone(client: Any, make_site: Any) -> dict[str, Any]:
    site = make_site(roles=("guard",))
    return {"site": site, "client": client, "token": device_token(client, site["users"]["guard"].username)}


def test_served_copy_has_no_exif_and_is_upright(site_phone):
    client, token = site_phone["client"], site_phone["token"]
    original = phone_jpeg_with_gps(1)
    sent = Image.open(io.BytesIO(original))
    assert sent.size == (200, 300) and sent.getexif().get_ifd(0x8825)  # stored sideways, with GPS
    digest = upload(client, token, original)
    for size in ("full", "thumb"):
        response = client.get(f"/photos/{digest}?size={size}", headers=bearer(token))
        served = image_of(response)
        assert served.width > served.height  # turned the way the person held the phone
        w, h = served.size
        top, bottom = served.convert("RGB").getpixel((w // 2, h // 5)), served.getpixel((w // 2, h * 4 // 5))
        assert top[0] > 180 and top[2] < 80, top  # red on top
        assert bottom[2] > 180 and bottom[0] < 80, bottom  # blue below
        assert len(served.getexif()) == 0 and "exif" not in served.info and "comment" not in served.info
        assert "icc_profile" not in served.info
        for marker in (b"Exif", b"PhoneMaker", b"camera-app", b"home address", b"GPS"):
            assert marker not in response.content


def test_capture_time_and_dimensions_are_recorded(site_phone):
    from server.photos.tables import Photo

    original = phone_jpeg_with_gps(2)
    digest = upload(site_phone["client"], site_phone["token"], original)
    row = run(Photo.select().where(Photo.sha256 == digest).first())
    assert (row["width"], row["height"]) == (300, 200)  # as seen upright
    assert row["bytes"] == len(original) and row["content_type"] == "image/jpeg"
    assert row["captured_at"] == datetime(2024, 5, 1, 2, 20, 30, tzinfo=timezone.utc)  # 10:20:30 +08:00
    assert len(row["phash"]) == 16 and row["uploader"] == site_phone["site"]["users"]["guard"].id


@pytest.mark.parametrize("size, full, thumb", [
    ((4000, 3000), (1600, 1200), (320, 240)),  # a 12-megapixel phone photo (JPEG draft path)
    ((3000, 4000), (1200, 1600), (240, 320)),
    ((1000, 750), (1000, 750), (320, 240)),  # never enlarged
])
def test_sizes_keep_the_aspect_ratio_within_the_box(site_phone, size, full, thumb):
    digest = upload(site_phone["client"], site_phone["token"], jpeg(*size, seed=sum(size)))
    auth = bearer(site_phone["token"])
    assert image_of(site_phone["client"].get(f"/photos/{digest}?size=full", headers=auth)).size == full
    assert image_of(site_phone["client"].get(f"/photos/{digest}?size=thumb", headers=auth)).size == thumb
    assert image_of(site_phone["client"].get(f"/photos/{digest}", headers=auth)).size == full


def test_transparent_png_is_flattened_on_white(site_phone):
    image = scene(400, 300, 7).convert("RGBA")
    image.putalpha(0)  # fully transparent
    digest = upload(site_phone["client"], site_phone["token"], encode(image, "PNG"), "image/png")
    served = image_of(site_phone["client"].get(f"/photos/{digest}", headers=bearer(site_phone["token"])))
    assert served.mode == "RGB" and min(served.getpixel((200, 150))) > 245


def test_only_staff_of_a_referencing_site_see_a_photo(client, make_site, login_as):
    here = make_site(roles=("guard", "cleaner", "supervisor"))
    elsewhere = make_site(roles=("guard", "supervisor"))
    guard = device_token(client, here["users"]["guard"].username)
    cleaner = device_token(client, here["users"]["cleaner"].username)
    outsider = device_token(client, elsewhere["users"]["guard"].username)
    digest = upload(client, guard, jpeg(seed=201))
    url = f"/photos/{digest}?size=thumb"

    # No record references it yet: only the uploader sees it.
    assert client.get(url, headers=bearer(guard)).status_code == 200
    assert client.get(url, headers=bearer(cleaner)).status_code == 404
    assert client.get(url, headers=bearer(outsider)).status_code == 404

    link_to_visit(here, here["users"]["guard"], [digest])
    assert client.get(url, headers=bearer(cleaner)).status_code == 200
    outside = client.get(url, headers=bearer(outsider))
    assert outside.status_code == 404 and outside.json()["code"] == "not_found"
    assert outside.content != client.get(url, headers=bearer(guard)).content

    # The console reads with the browser session.
    assert client.get(url).status_code == 401
    login_as(here["users"]["supervisor"].username)
    assert image_of(client.get(url)).size == (320, 240)
    login_as(elsewhere["users"]["supervisor"].username)
    assert client.get(url).status_code == 404


def test_unknown_or_malformed_photo_names_are_404(site_phone):
    auth = bearer(site_phone["token"])
    client = site_phone["client"]
    assert client.get(f"/photos/{'f' * 64}", headers=auth).status_code == 404
    assert client.get("/photos/..%2f..%2fsecret_key", headers=auth).status_code == 404
    assert client.head(f"/sync/photos/{'not-a-hash'}", headers=auth).status_code == 404
    digest = upload(client, site_phone["token"], jpeg(seed=202))
    assert client.get(f"/photos/{digest}?size=original", headers=auth).status_code == 400
