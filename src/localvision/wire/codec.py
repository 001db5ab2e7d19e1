"""JSON and base64 for request and response bodies: the fast libraries when installed.

Every protocol's request is JSON carrying images as base64 text, so each request pays for one
JSON parse and one base64 decode of the whole image on the server's event loop, and one JSON
encode of the answer. The standard library's base64 decoder handles a 640x480 JPEG (96 KB of
text) in about 200 µs and ``json`` parses that body in about 65; ``pybase64`` (SIMD) takes 5 µs
and ``orjson`` 34. The ``fast`` extra installs both (with uvloop and httptools, which uvicorn
picks up by itself); without them the standard library does the same work, with the same
answers and errors.

What differs with ``orjson``, all of it malformed input refused either way: it refuses ``NaN``
and ``Infinity`` literals, integers beyond 64 bits, lone surrogates, and nesting deeper than
1,024 levels (each a :class:`json.JSONDecodeError`, as the standard library raises for what
it refuses).
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from typing import Any

__all__ = ["FAST_BASE64", "FAST_JSON", "b64decode", "dumps", "loads", "stdlib_b64decode"]


def stdlib_b64decode(data: str | bytes) -> bytes:
    """Strict base64 by the standard library (what :func:`b64decode` falls back to)."""
    return binascii.a2b_base64(
        data.encode("ascii") if isinstance(data, str) else data, strict_mode=True
    )


_loads: Callable[[bytes | str], Any] = json.loads
_decode: Callable[[str | bytes], bytes] = stdlib_b64decode

try:
    import orjson

    FAST_JSON = True
    _loads = orjson.loads
except ImportError:  # pragma: no cover - the fast extra is installed in the test environment
    FAST_JSON = False

try:
    import pybase64

    FAST_BASE64 = True

    def _fast_b64decode(data: str | bytes) -> bytes:
        decoded: bytes = pybase64.b64decode(data, validate=True)
        return decoded

    _decode = _fast_b64decode
except ImportError:  # pragma: no cover
    FAST_BASE64 = False


def loads(data: bytes | str) -> Any:
    """Parse JSON text. Raises :class:`json.JSONDecodeError` (``orjson``'s error is one) when
    it is not valid, :class:`RecursionError` when the standard library meets deep nesting."""
    return _loads(data)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON for ``value`` (dicts with string keys, lists, str, int, float,
    bool, None)."""
    if FAST_JSON:
        encoded: bytes = orjson.dumps(value)
        return encoded
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def b64decode(data: str | bytes) -> bytes:
    """Strict standard-alphabet base64 (padding required, no whitespace or other characters).
    Raises :class:`binascii.Error` (a ``ValueError``) for anything else, and for text that is
    not ASCII."""
    try:
        return _decode(data)
    except binascii.Error:
        raise
    except ValueError as exc:  # not ASCII (each library words it its own way)
        raise binascii.Error(f"Invalid base64 data: {exc}") from None
