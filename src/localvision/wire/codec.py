"""JSON and base64 for request and response bodies, with ``orjson`` and ``pybase64``.

Every protocol's request is JSON carrying images as base64 text, so each request pays for one
JSON parse and one base64 decode of the whole image on the server's event loop, and one JSON
encode of the answer. The standard library's base64 decoder handles a 640x480 JPEG (96 KB of
text) in about 200 µs and ``json`` parses that body in about 65; ``pybase64`` (SIMD) takes 5 µs
and ``orjson`` 34. Both are core dependencies (small wheels for every platform Python ships
on), so a server answers the same whatever else is installed.

What ``orjson`` refuses that the standard library accepted, all of it as invalid JSON (a
:class:`json.JSONDecodeError`): ``NaN`` and ``Infinity`` literals, numbers beyond a double's
range (``1e400``), a leading byte-order mark, lone surrogates, nesting deeper than 1,024
levels. Integers beyond 64 bits become floats. On output, a non-finite float is written as
``null`` (no answer of the protocol routes holds one: scores are clipped to 0..1).

Base64 is decoded strictly (the standard alphabet, padding required, nothing else); what
``pybase64`` refuses is tried once more by the standard library's strict decoder, so exactly
what the standard library accepts is accepted (it also allows excess padding, ``AAAA==``).
"""

from __future__ import annotations

import binascii
from typing import Any

import orjson
import pybase64

__all__ = ["b64decode", "dumps", "loads"]


def loads(data: bytes | str) -> Any:
    """Parse JSON text; :class:`json.JSONDecodeError` when it is not valid."""
    return orjson.loads(data)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON for ``value`` (dicts with string keys, lists, str, int, float,
    bool, None)."""
    encoded: bytes = orjson.dumps(value)
    return encoded


def b64decode(data: str | bytes) -> bytes:
    """Strict standard-alphabet base64. Raises :class:`binascii.Error` (a ``ValueError``) for
    anything the standard library's strict decoder refuses, text that is not ASCII included."""
    try:
        decoded: bytes = pybase64.b64decode(data, validate=True)
        return decoded
    except ValueError:  # refused, or not ASCII: the standard library has the last word
        pass
    try:
        raw = data.encode("ascii") if isinstance(data, str) else data
    except UnicodeEncodeError:
        raise binascii.Error("Invalid base64 data: it is not ASCII.") from None
    return binascii.a2b_base64(raw, strict_mode=True)
