"""Fetching images named by URL (Google's ``image.source.imageUri``) without becoming a proxy.

A server that fetches URLs for its callers can be turned against its own network (SSRF). So:

* only ``http`` and ``https``; ``gs://`` answers "not configured" (UNIMPLEMENTED);
* every address a host name resolves to is checked *at connect time*, for the first request
  and every redirect alike, so neither a redirect nor a DNS answer that changes between check
  and use (rebinding) reaches loopback, private, link-local (cloud metadata at
  169.254.169.254), multicast or reserved addresses, unless ``allow_private_urls`` is set;
  one refused address refuses the host, and the connection tries the addresses in turn;
* an IPv6 address that carries an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
  ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo ``2001::/32``) is judged
  by the IPv4 address it carries, since that is where the packets end up;
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

from ..errors import (
    FeatureNotAvailableError,
    ImageFetchError,
    ImageTooLargeError,
    LocalVisionError,
)

__all__ = ["ImageFetcher", "address_allowed"]

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local use: never public
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d (RFC 4291)
_LOW32 = 0xFFFFFFFF

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """True when ``address`` is a public unicast IP (or private ones are allowed).

    An IPv6 address embedding an IPv4 one is judged by what it embeds: ``64:ff9b::7f00:1`` is
    loopback, not a public NAT64 address. Teredo is judged by its own prefix (not public) as
    well as by the server and client addresses it carries."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    judged: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        judged = [ip, *embedded] if ip.teredo is not None else [*embedded] or judged
    for one in judged:
        if one.is_multicast or one.is_unspecified:
            return False
        if not allow_private and (not one.is_global or one in _NAT64_LOCAL):
            return False
    return True


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, if it is one of the forms that do."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # :: and ::1 are themselves
        return [ipaddress.IPv4Address(int(ip) & _LOW32)]
    return []


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for TCP, in the resolver's order, without repeats."""
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ImageFetchError(f"Cannot resolve {host}: {exc}.") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


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
        addresses = await resolve(host, port)
        refused = [
            a for a in addresses if not address_allowed(a, allow_private=self._allow_private)
        ]
        if refused or not addresses:
            raise ImageFetchError(
                f"Refusing to fetch from {host}: it resolves to a non-public address "
                f"({', '.join(refused) or 'none'}).",
                hint="Send the image bytes instead, or set server.allow_private_urls.",
            )
        failure: Exception | None = None
        for address in addresses:  # every one was checked above; the first that answers wins
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

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
        except LocalVisionError:
            raise  # ours already say what went wrong (several are ValueErrors too)
        except (ValueError, TypeError) as exc:
            # A URL the parsers refuse: brackets that do not close, non-ASCII host names.
            raise ImageFetchError(
                f"{_short(uri)} is not a URL that can be fetched: {exc or type(exc).__name__}.",
                hint="Percent-encode the URL (and IDNA-encode its host), or send the bytes.",
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
