"""Reading console form posts: a bounded body, then Starlette's form parser.

Form posts are read whole before parsing, with a size limit (an upload on the *Try* page may be
as large as the server's ``max_body_bytes``; a login or promote form is a few hundred bytes),
so a console route never buffers more than it allows.
"""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from ..errors import InvalidParameterError, RequestTooLargeError

__all__ = ["SMALL_FORM_BYTES", "read_form", "text_field"]

SMALL_FORM_BYTES = 64 * 1024
"""The largest login, promote or rollback form accepted."""


async def read_form(
    request: Request, *, limit: int = SMALL_FORM_BYTES, max_files: int = 0
) -> FormData:
    """The form of ``request``, its body read first and refused past ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    # Starlette parses the form from the body it has cached, the one read above.
    request._body = b"".join(chunks)
    try:
        return await request.form(max_files=max_files, max_fields=32)
    except (HTTPException, MultiPartException) as exc:
        detail = exc.detail if isinstance(exc, HTTPException) else exc.message
        raise InvalidParameterError(f"The form cannot be read: {detail}") from None


def text_field(form: FormData, name: str) -> str:
    """A text field of ``form``, stripped; empty when absent (an upload there is refused)."""
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise InvalidParameterError(f"The form field {name!r} must be text, not a file.")
    return (value or "").strip()


def _too_large(limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(
        f"The form is larger than this server accepts ({limit:,} bytes).",
        hint="Send a smaller image, or raise server.max_body_bytes.",
    )
