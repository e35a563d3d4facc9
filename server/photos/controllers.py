"""Photo endpoints: upload and presence check for phones (/sync/photos), served copies (/photos)."""

from __future__ import annotations

from typing import Literal, TypedDict

from litestar import Controller, Request, Response, get, head, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery

from server.errors import AppError
from server.openapi import binary, error_responses, with_request_body
from server.pages import api_user
from server.photos import services
from server.staff.auth import device_user
from server.staff.tables import Staff

# Content-addressed copies never change; "private" because each is access-checked.
IMMUTABLE = "private, max-age=31536000, immutable"
UPLOAD_TYPES = ("image/jpeg", "image/png", "image/webp")


class PhotoStored(TypedDict):
    sha256: str
    stored: bool
    new: bool  # false: the server already had it (200)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


async def _device_staff(request: Request) -> Staff:
    return (await device_user(_bearer(request))).staff


class PhotoSyncController(Controller):
    path = "/sync/photos"

    @head("/{sha256:str}", responses={
        404: ResponseSpec(None, description="not stored yet"),
        401: ResponseSpec(None, description="unknown or expired device token"),
    })
    async def photo_stored(self, request: Request, sha256: FromPath[str]) -> Response[None]:
        """200 when the server has this photo, 404 when not yet."""
        try:
            await _device_staff(request)
            stored = await services.photo_exists(sha256.lower())
        except AppError as exc:
            # A HEAD answer carries no body: the status is all the phone gets.
            return Response(content=None, status_code=exc.status_code)
        return Response(content=None, status_code=200 if stored else 404)

    @put("/{sha256:str}", request_max_body_size=None, status_code=201,
         responses={200: ResponseSpec(PhotoStored, description="already stored", generate_examples=False),
                    **error_responses(400, 401, 413, 415, 422)},
         operation_class=with_request_body({media: binary() for media in UPLOAD_TYPES},
                                           "the photo's bytes, whose SHA-256 is the path"))
    async def upload(self, request: Request, sha256: FromPath[str]) -> Response[PhotoStored]:
        """Store a photo's bytes under its SHA-256 (the limit is enforced by the service, from Content-Length first)."""
        user = await _device_staff(request)
        created = await services.receive_photo(
            user, sha256, request.headers.get("content-type"), request.content_length, request.stream())
        return Response(content=PhotoStored(sha256=sha256.lower(), stored=True, new=created),
                        status_code=201 if created else 200)


class PhotoController(Controller):
    path = "/photos"

    @get("/{sha256:str}", media_type="image/jpeg", responses=error_responses(400, 401, 404))
    async def photo(self, request: Request, sha256: FromPath[str],
                    size: FromQuery[Literal["full", "thumb"]] = "full") -> Response[bytes]:
        """A re-encoded copy (no EXIF, upright) for staff of a site whose record references the photo."""
        user = await api_user(request)  # the phone's device token, else the console's session
        data = await services.readable_copy(user, sha256, size)
        return Response(content=data, media_type="image/jpeg", headers={
            "cache-control": IMMUTABLE, "x-content-type-options": "nosniff",
        })
