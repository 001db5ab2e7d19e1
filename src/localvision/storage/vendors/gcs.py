"""``gs://``: Google Cloud Storage via gcsfs.

Credentials come from Google's application default credentials: ``GOOGLE_APPLICATION_CREDENTIALS``
(a service-account or external-account file), ``gcloud auth application-default login``, or the
metadata server (GKE workload identity, Cloud Run, GCE). ``STORAGE_EMULATOR_HOST`` points it at
an emulator, which takes no credentials. Anonymous access is used only then: a missing
credential on the real service is an error, not a silent anonymous request.

gcsfs retries a failed request six times with waits doubling to 16 s, fixed when its class is
defined; the subclass here retries :data:`ATTEMPTS` times so a dead endpoint fails in seconds.
``GCSFileSystem`` is taken from ``gcsfs.core`` so gcsfs's experimental zonal/HNS subclass (on
when ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`` is unset) is not used for plain buckets.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ...optional import import_optional
from . import ATTEMPTS, CONNECT_TIMEOUT_S, READ_TIMEOUT_S, Vendor

__all__ = ["VENDOR"]


def _endpoint(environ: Mapping[str, str]) -> str | None:
    host = environ.get("STORAGE_EMULATOR_HOST", "")
    if host in ("", "default"):
        return None
    return host if host.startswith(("http://", "https://")) else f"http://{host}"


@functools.cache
def _filesystem_class() -> Any:
    """``GCSFileSystem`` retrying each request :data:`ATTEMPTS` times instead of six."""
    core = import_optional("gcsfs.core", extra="storage", purpose="read and write gs:// URIs")
    retry = import_optional("gcsfs.retry", extra="storage", purpose="read and write gs:// URIs")
    base = core.GCSFileSystem
    request = getattr(base._request, "__wrapped__", None)
    if request is None:  # a gcsfs that is not the pinned one: keep its own retries
        return base
    return type(
        "GCSFileSystem",
        (base,),
        {"_request": retry.retry_request(retries=ATTEMPTS)(request), "__module__": __name__},
    )


def _open(environ: Mapping[str, str]) -> Any:
    aiohttp = import_optional("aiohttp", extra="storage", purpose="read and write gs:// URIs")
    endpoint = _endpoint(environ)
    if endpoint is not None:
        token: str = "anon"
    else:
        token = environ.get("GOOGLE_APPLICATION_CREDENTIALS") or "google_default"
    project = environ.get("GOOGLE_CLOUD_PROJECT") or environ.get("GCLOUD_PROJECT") or ""
    return _filesystem_class()(
        project=project,
        token=token,
        endpoint_url=endpoint,
        requests_timeout=aiohttp.ClientTimeout(
            sock_connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S
        ),
        use_listings_cache=False,
    )


VENDOR = Vendor(
    title="Google Cloud Storage",
    open=_open,
    endpoint=_endpoint,
    unreachable_hint="Check the network, and the endpoint: STORAGE_EMULATOR_HOST points "
    "localvision at an emulator; unset, it is Google's.",
    denied_hint="Check Google's application default credentials: GOOGLE_APPLICATION_CREDENTIALS, "
    "'gcloud auth application-default login', or the service account of the workload, and "
    "that it may read (and, to push, write) the bucket.",
)
