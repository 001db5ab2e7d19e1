"""The JSON response of the protocol routes' answers, encoded by :mod:`localvision.wire.codec`
(``orjson``: about a third of the standard library's time for a labels answer)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from ..wire import codec

__all__ = ["FastJSONResponse"]


class FastJSONResponse(JSONResponse):
    """Starlette's JSONResponse, rendered by :func:`localvision.wire.codec.dumps`."""

    def render(self, content: Any) -> bytes:
        return codec.dumps(content)
