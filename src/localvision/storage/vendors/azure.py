"""``az://`` and ``abfs://``: Azure Blob Storage (and ADLS Gen2 through its blob endpoint) via
adlfs.

Credentials: ``AZURE_STORAGE_CONNECTION_STRING`` (an account key or SAS, and the endpoint:
Azurite's ``BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1`` works), or
``AZURE_STORAGE_ACCOUNT_NAME`` with ``AZURE_STORAGE_ACCOUNT_KEY``, ``AZURE_STORAGE_SAS_TOKEN``,
or an identity ``DefaultAzureCredential`` finds (workload identity on AKS, a managed identity,
``az login``). The container is the URI's bucket: ``az://CONTAINER/path``.

adlfs builds Azure's client with the SDK's default retries (waits of 15 s and more); the
subclass here builds it with :data:`ATTEMPTS` tries and short timeouts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ...errors import StorageAccessDeniedError
from ...optional import import_optional
from . import ATTEMPTS, CONNECT_TIMEOUT_S, READ_TIMEOUT_S, Vendor

__all__ = ["VENDOR"]

_DENIED_HINT = (
    "Set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with "
    "AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_TOKEN, or an identity DefaultAzureCredential "
    "finds (workload identity, managed identity, az login), allowed to read (and, to push, "
    "write) the container."
)


def _endpoint(environ: Mapping[str, str]) -> str | None:
    for part in environ.get("AZURE_STORAGE_CONNECTION_STRING", "").split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "blobendpoint" and value:
            return value.strip()
    return None


def _client_options() -> dict[str, Any]:
    return {
        "retry_total": ATTEMPTS - 1,
        "initial_backoff": 0.5,
        "increment_base": 1.5,
        "random_jitter_range": 0.5,
        "connection_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
    }


@functools.cache
def _filesystem_class() -> Any:
    """``AzureBlobFileSystem`` whose service client has short retries and timeouts."""
    adlfs = import_optional("adlfs", extra="storage", purpose="read and write az:// URIs")
    blob_aio = import_optional(
        "azure.storage.blob.aio", extra="storage", purpose="read and write az:// URIs"
    )
    service = blob_aio.BlobServiceClient

    def do_connect(self: Any) -> None:
        if self.connection_string:
            self.service_client = service.from_connection_string(
                self.connection_string, **_client_options()
            )
            return
        host = getattr(self, "account_host", f"{self.account_name}.blob.core.windows.net")
        url = f"https://{host}"
        credential = self.credential or self.account_key
        if credential is None and self.sas_token:
            url += self.sas_token if self.sas_token.startswith("?") else f"?{self.sas_token}"
        self.service_client = service(url, credential=credential, **_client_options())

    return type(
        "AzureBlobFileSystem",
        (adlfs.AzureBlobFileSystem,),
        {"do_connect": do_connect, "__module__": __name__},
    )


def _open(environ: Mapping[str, str]) -> Any:
    connection = environ.get("AZURE_STORAGE_CONNECTION_STRING") or None
    account = environ.get("AZURE_STORAGE_ACCOUNT_NAME") or None
    if connection is None and account is None:
        raise StorageAccessDeniedError("No Azure storage account is configured.", hint=_DENIED_HINT)
    options: dict[str, Any] = {"anon": False}
    if connection is not None:
        options["connection_string"] = connection
    else:
        options.update(
            account_name=account,
            account_key=environ.get("AZURE_STORAGE_ACCOUNT_KEY") or None,
            sas_token=environ.get("AZURE_STORAGE_SAS_TOKEN") or None,
        )
    return _filesystem_class()(
        connection_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        use_listings_cache=False,
        **options,
    )


VENDOR = Vendor(
    title="Azure Blob Storage",
    open=_open,
    endpoint=_endpoint,
    unreachable_hint="Check the network, and the endpoint: the BlobEndpoint of "
    "AZURE_STORAGE_CONNECTION_STRING points localvision at another endpoint (Azurite); "
    "without one it is the account's own.",
    denied_hint=_DENIED_HINT,
)
