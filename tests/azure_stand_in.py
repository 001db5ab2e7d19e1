"""A stand-in for Azure AI Vision on 127.0.0.1 that answers in Image Analysis 4.0's documented
JSON (no localvision server speaks Azure's API): the provider tests and the Annotator contract
suite point the real Azure provider at it."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from PIL import Image

KEY = "azure-test-key"


def analysis(width: int, height: int, features: list[str]) -> dict[str, Any]:
    """A documented-shape answer for the features asked."""
    body: dict[str, Any] = {
        "modelVersion": "2023-10-01",
        "metadata": {"width": width, "height": height},
    }
    if "tags" in features:
        body["tagsResult"] = {
            "values": [{"name": "outdoor", "confidence": 0.98}, {"name": "red", "confidence": 0.7}]
        }
    if "objects" in features:
        body["objectsResult"] = {
            "values": [
                {
                    "boundingBox": {"x": 4, "y": 6, "w": 20, "h": 10},
                    "tags": [{"name": "ball", "confidence": 0.61}],
                }
            ]
        }
    if "read" in features:
        polygon = [{"x": 1, "y": 2}, {"x": 30, "y": 2}, {"x": 30, "y": 12}, {"x": 1, "y": 12}]
        body["readResult"] = {
            "blocks": [
                {
                    "lines": [
                        {
                            "text": "Hello world",
                            "boundingPolygon": polygon,
                            "words": [
                                {"text": "Hello", "boundingPolygon": polygon, "confidence": 0.99},
                                {"text": "world", "boundingPolygon": polygon, "confidence": 0.95},
                            ],
                        }
                    ]
                }
            ]
        }
    return body


class Canned(BaseHTTPRequestHandler):
    """Answers like Azure; ``script`` lists (status, body or None for a real analysis)."""

    script: list[tuple[int, Any]] = []
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        Canned.seen.append(
            {"path": url.path, "query": query, "key": self.headers.get("Ocp-Apim-Subscription-Key")}
        )
        status, body = Canned.script.pop(0) if Canned.script else (200, None)
        if self.headers.get("Ocp-Apim-Subscription-Key") != KEY:
            denied = "Access denied due to invalid subscription key."
            status, body = 401, {"error": {"code": "401", "message": denied}}
        if body is None:
            with Image.open(io.BytesIO(data)) as image:
                body = analysis(image.width, image.height, query["features"].split(","))
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@contextmanager
def azure_stand_in() -> Iterator[str]:
    """Serve :class:`Canned` on a free loopback port, with an empty script; yields its URL."""
    Canned.script, Canned.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
