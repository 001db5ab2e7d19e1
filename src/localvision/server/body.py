"""Reading request bodies with a size limit enforced before and while reading."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from ..errors import InvalidParameterError, LocalVisionError, RequestTooLargeError

__all__ = ["ClientClosedError", "read_body"]


class ClientClosedError(LocalVisionError):
    """The client closed the connection before its answer was ready: nobody is left to answer.

    Handlers answer it with a bare 499 (nginx's "client closed request"), for the access log
    and metrics only; the work it stood for has been taken off the queue.
    """

    status = 499
    code = "client_closed"


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes without reading them all.

    A declared ``Content-Length`` over the limit is refused before reading anything; a chunked
    body is refused as soon as it passes the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InvalidParameterError(f"Content-Length {declared!r} is not a number.") from None
        if size > limit:
            raise _too_large(size, limit)
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise _too_large(total, limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientClosedError("The client went away while sending its request.") from None
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(
        f"The request body is {size:,} bytes or more; this server accepts at most {limit:,}.",
        hint="Send fewer or smaller images per request, or raise server.max_body_bytes.",
    )
