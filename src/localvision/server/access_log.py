"""An ASGI middleware writing one JSON line per request and feeding the request metrics.

Lines carry method, path, status, duration, protocol and operation, and the client address:
never bodies, image bytes, query strings (they may hold API keys) or credentials.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import Metrics

__all__ = ["AccessLog"]

log = logging.getLogger("localvision.access")


class AccessLog:
    """Wraps the app; measures each HTTP request from first byte in to last byte out."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - start
            state: dict[str, Any] = scope.get("state") or {}
            protocol = str(state.get("protocol", "other"))
            operation = str(state.get("operation", "other"))
            self.metrics.requests.labels(protocol, operation, str(status)).inc()
            self.metrics.latency.labels(protocol, operation).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                log.info(
                    json.dumps(
                        {
                            "method": scope.get("method"),
                            "path": scope.get("path"),
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                            "protocol": protocol,
                            "operation": operation,
                            "client": client[0] if client else None,
                        }
                    )
                )
