"""``s3://``: Amazon S3 and S3-compatible stores (MinIO, Ceph, R2, an emulator) via s3fs.

Credentials come from botocore's own chain: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
(and ``AWS_SESSION_TOKEN``), ``AWS_PROFILE`` and the shared config files, web identity (EKS
IRSA) and the instance or task role. ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) points
it at another S3-compatible endpoint; ``AWS_REGION``/``AWS_DEFAULT_REGION`` names the region.
The values found in the environment mapping are passed to s3fs explicitly, so a mapping other
than the process environment (tests, a server's) is honoured, and a different endpoint or key
gets its own filesystem instance from fsspec's cache.

A read of one object version (``version_id``) needs s3fs's ``version_aware`` mode, which also
reads ``?versionId=`` out of every path it is given; that mode gets a filesystem of its own
(a second instance in fsspec's cache), used for versioned reads only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...optional import import_optional
from . import ATTEMPTS, CONNECT_TIMEOUT_S, READ_TIMEOUT_S, Vendor

__all__ = ["VENDOR"]


def _endpoint(environ: Mapping[str, str]) -> str | None:
    return environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None


def _open(environ: Mapping[str, str], *, version_aware: bool = False) -> Any:
    s3fs = import_optional("s3fs", extra="storage", purpose="read and write s3:// URIs")
    options: dict[str, Any] = {}
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        options.update(key=key, secret=secret, token=environ.get("AWS_SESSION_TOKEN") or None)
    elif environ.get("AWS_PROFILE"):
        options["profile"] = environ["AWS_PROFILE"]
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    filesystem = s3fs.S3FileSystem(
        endpoint_url=_endpoint(environ),
        client_kwargs={"region_name": region} if region else {},
        config_kwargs={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "read_timeout": READ_TIMEOUT_S,
            "retries": {"max_attempts": ATTEMPTS, "mode": "standard"},
        },
        use_listings_cache=False,
        version_aware=version_aware,
        **options,
    )
    filesystem.retries = ATTEMPTS  # s3fs's own retries of throttling and broken reads
    return filesystem


def _open_versioned(environ: Mapping[str, str]) -> Any:
    return _open(environ, version_aware=True)


VENDOR = Vendor(
    title="S3",
    open=_open,
    endpoint=_endpoint,
    unreachable_hint="Check the network, and the endpoint: AWS_ENDPOINT_URL_S3 points "
    "localvision at an S3-compatible store (MinIO, Ceph, an emulator); unset, it is AWS's.",
    denied_hint="Check the credentials botocore finds: AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the role of the instance, task or pod, and that "
    "they may read (and, to push, write) the bucket.",
    open_versioned=_open_versioned,
)
