"""Fetching images named by URL (Google's ``image.source.imageUri``) without becoming a proxy.

A server that fetches URLs for its callers can be turned against its own network (SSRF). So:

* only ``http`` and ``https``; ``gs://`` answers "not configured" (UNIMPLEMENTED);
* every address a host name resolves to is checked *at connect time*, for the first request
  and every redirect alike, so neither a redirect nor a DNS answer that changes between check
  and use (rebinding) reaches loopback, private, link-local (cloud metadata at
  169.254.169.254), multicast or reserved addresses, unless ``allow_private_urls`` is set;
* at most five redirects, a total time limit, and a byte limit enforced while reading.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
import httpcore

from ..errors import FeatureNotAvailableError, ImageFetchError, ImageTooLargeError

__all__ = ["ImageFetcher", "address_allowed"]

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """True when ``address`` is a public unicast IP (or private ones are allowed)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return False
    return allow_private or ip.is_global


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves host names itself and connects only to addresses that pass the check."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ImageFetchError(f"Cannot resolve {host}: {exc}.") from exc
        addresses = [str(info[4][0]) for info in infos]
        refused = [
            a for a in addresses if not address_allowed(a, allow_private=self._allow_private)
        ]
        if refused or not addresses:
            raise ImageFetchError(
                f"Refusing to fetch from {host}: it resolves to a non-public address "
                f"({', '.join(refused) or 'none'}).",
                hint="Send the image bytes instead, or set server.allow_private_urls.",
            )
        return await self._inner.connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise ImageFetchError("Unix sockets are not fetched.")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class ImageFetcher:
    """Fetches image bytes by URL within time and size limits, refusing non-public hosts."""

    def __init__(self, *, max_bytes: int, timeout_s: float, allow_private: bool = False) -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=_GuardedBackend(allow_private), max_connections=32
        )

    async def fetch(self, uri: str) -> bytes:
        """The body at ``uri``; raises :class:`ImageFetchError` (or UNIMPLEMENTED for gs://)."""
        try:
            with anyio.fail_after(self.timeout_s):
                return await self._fetch(uri)
        except TimeoutError:
            raise ImageFetchError(
                f"Fetching {_short(uri)} took longer than {self.timeout_s:g} s.",
                hint="Send the image bytes instead.",
            ) from None
        except httpcore.TimeoutException as exc:
            raise ImageFetchError(f"Fetching {_short(uri)} timed out: {exc}.") from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise ImageFetchError(
                f"We can not access the URL {_short(uri)} currently: {exc or type(exc).__name__}.",
                hint="Download the content and pass it in.",
            ) from exc

    async def _fetch(self, uri: str) -> bytes:
        url = uri
        for _ in range(MAX_REDIRECTS + 1):
            _check_scheme(url)
            async with self._pool.stream(
                "GET", url, headers=[(b"User-Agent", b"localvision"), (b"Accept", b"image/*")]
            ) as response:
                if response.status in _REDIRECTS:
                    location = _header(response.headers, b"location")
                    if not location:
                        raise ImageFetchError(f"{_short(url)} redirects without a Location.")
                    url = urljoin(url, location)
                    continue
                if response.status != 200:
                    raise ImageFetchError(
                        f"Fetching {_short(url)} answered HTTP {response.status}."
                    )
                declared = _header(response.headers, b"content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise ImageTooLargeError(
                        f"The image at {_short(url)} is {int(declared):,} bytes; "
                        f"the limit is {self.max_bytes:,}."
                    )
                return await self._read(response, url)
        raise ImageFetchError(f"{_short(uri)} redirected more than {MAX_REDIRECTS} times.")

    async def _read(self, response: httpcore.Response, url: str) -> bytes:
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.aiter_stream():
            total += len(chunk)
            if total > self.max_bytes:
                raise ImageTooLargeError(
                    f"The image at {_short(url)} is over the limit of {self.max_bytes:,} bytes."
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        await self._pool.aclose()


def _check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "gs":
        raise FeatureNotAvailableError(
            f"{_short(url)} is in Google Cloud Storage, which this server cannot read.",
            hint="Send the image bytes instead.",
        )
    if scheme not in ("http", "https"):
        raise ImageFetchError(
            f"Image URLs must be http or https; got {_short(url)}.", hint="Send the image bytes."
        )


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."
