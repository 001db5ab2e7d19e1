"""The one retrying JSON POST the REST providers share.

Retries 429, 5xx and network errors with jittered exponential backoff (at most 8 s a wait) up to
``retries`` times; never retries anything else. A 200 whose body is not a JSON object is the
vendor's fault and a :class:`~localvision.errors.ProviderError`; any other status becomes the
error ``to_error`` makes of the vendor's body, so its message is kept.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import LocalVisionError, ProviderError
from ...optional import import_optional

__all__ = ["RETRY_STATUSES", "post_json"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def post_json(
    client: Any,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    *,
    vendor: str,
    retries: int,
    to_error: Callable[[int, dict[str, Any]], LocalVisionError],
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST ``content`` and return the JSON object answered (see the module docstring)."""
    httpx = import_optional("httpx", extra="cloud", purpose="call cloud providers")
    rng = rng or random.Random()
    attempt = 0
    while True:
        try:
            response = client.post(url, content=content, headers=dict(headers))
        except httpx.HTTPError as exc:
            if attempt >= retries:
                raise ProviderError(f"{vendor} is unreachable: {exc}.") from exc
        else:
            if response.status_code == 200:
                try:
                    answer = response.json()
                except ValueError:
                    answer = None
                if not isinstance(answer, dict):
                    raise ProviderError(
                        f"{vendor} answered 200 with a body that is not a JSON object: "
                        f"{response.text[:120]!r}."
                    )
                return answer
            if response.status_code not in RETRY_STATUSES or attempt >= retries:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    body = {"error": {"message": response.text[:200]}}
                raise to_error(response.status_code, body)
        attempt += 1
        sleep(min(8.0, 0.2 * 2**attempt) * (0.5 + rng.random()))
