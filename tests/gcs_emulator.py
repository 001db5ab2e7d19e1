"""gcp-storage-emulator, with its multipart upload parser made byte-exact, run as a script.

The emulator splits ``multipart/related`` upload bodies with Python's e-mail parser, which
treats a lone ``\\r`` as a line ending: an object whose last byte is ``\\r`` loses it (gcsfs
sends every small upload that way). Real GCS keeps every byte. This wrapper replaces only that
parsing, so the GCS stand-in stores what it is sent, and starts the emulator's own command line.

Usage: ``python tests/gcs_emulator.py start --host=127.0.0.1 --port=N --in-memory``.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from gcp_storage_emulator import __main__ as emulator_main
from gcp_storage_emulator import server

_original_read_data = server._read_data
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')


def _read_data(request_handler: Any, query: Any) -> Any:
    content_type = request_handler.headers.get("Content-Type") or ""
    if not content_type.startswith("multipart/related"):
        return _original_read_data(request_handler, query)
    raw = server._decode_raw_data(server._read_raw_data(request_handler), request_handler)
    match = _BOUNDARY.search(content_type)
    if not raw or match is None:
        return None
    delimiter = b"--" + match.group(1).encode()
    parts = []
    for chunk in raw.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        # Lines end in CRLF (RFC 2046) or, as gcsfs writes them, LF; the line ending before
        # a delimiter belongs to the delimiter, not to the part.
        newline = b"\r\n" if chunk.startswith(b"\r\n") else b"\n"
        head, _, body = chunk.removeprefix(newline).partition(newline + newline)
        parts.append((head.decode("latin-1"), body.removesuffix(newline)))
    meta = parts[0][1]
    content_head, content = parts[1]
    found = re.search(r"(?im)^content-type:\s*([^\r\n;]+)", content_head)
    return {
        "meta": json.loads(meta),
        "content": content,
        "content-type": found.group(1).strip() if found else "application/octet-stream",
    }


server._read_data = _read_data

if __name__ == "__main__":
    sys.exit(emulator_main.main(sys.argv[1:]))
