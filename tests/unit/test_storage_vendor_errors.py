"""The one translation of vendor exceptions into storage errors, fed the vendors' own
exception classes; and each vendor's filesystem built from the environment mapping given."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from localvision.errors import (
    InvalidParameterError,
    StorageAccessDeniedError,
    StorageError,
    StorageNotFoundError,
    StorageUnavailableError,
)
from localvision.storage.vendor_errors import translate, translated
from localvision.storage.vendors import vendor_for

botocore = pytest.importorskip("botocore.exceptions", reason="the storage extra brings botocore")
azure = pytest.importorskip("azure.core.exceptions", reason="the storage extra brings azure-core")
pytest.importorskip("gcsfs", reason="the storage extra brings gcsfs")
from fsspec.exceptions import FSTimeoutError  # noqa: E402
from gcsfs.retry import HttpError  # noqa: E402
from google.auth.exceptions import DefaultCredentialsError  # noqa: E402

S3_ENV = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "k"}


def client_error(code: str, status: int) -> Exception:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} says no"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    error: Exception = botocore.ClientError(response, "GetObject")
    return error


def with_status(error: Exception, status: int) -> Exception:
    error.status_code = status  # type: ignore[attr-defined]
    return error


def caused(outer: Exception, cause: Exception) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("scheme", "error", "kind"),
    [
        ("s3", botocore.EndpointConnectionError(endpoint_url="http://x"), StorageUnavailableError),
        ("s3", botocore.ConnectTimeoutError(endpoint_url="http://x"), StorageUnavailableError),
        ("s3", botocore.NoCredentialsError(), StorageAccessDeniedError),
        ("s3", client_error("AccessDenied", 403), StorageAccessDeniedError),
        ("s3", client_error("NoSuchKey", 404), StorageNotFoundError),
        ("s3", client_error("SlowDown", 503), StorageUnavailableError),
        ("s3", FileNotFoundError("b/k"), StorageNotFoundError),
        ("s3", PermissionError("Forbidden"), StorageAccessDeniedError),
        ("gs", HttpError({"code": 403, "message": "denied"}), StorageAccessDeniedError),
        ("gs", HttpError({"code": 401, "message": "bad token"}), StorageAccessDeniedError),
        ("gs", HttpError({"code": 500, "message": "backend"}), StorageUnavailableError),
        ("gs", OSError("Forbidden: b/o\nno access"), StorageAccessDeniedError),
        ("gs", DefaultCredentialsError("no ADC"), StorageAccessDeniedError),
        ("gs", FSTimeoutError(), StorageUnavailableError),
        ("az", azure.ResourceNotFoundError("BlobNotFound"), StorageNotFoundError),
        ("az", azure.ClientAuthenticationError("bad signature"), StorageAccessDeniedError),
        ("az", azure.ServiceRequestError("refused"), StorageUnavailableError),
        ("az", with_status(azure.HttpResponseError("busy"), 503), StorageUnavailableError),
        (
            "az",
            caused(ValueError("unable to connect"), azure.ServiceRequestError("x")),
            StorageUnavailableError,
        ),
        ("file", ConnectionRefusedError(111, "refused"), StorageUnavailableError),
        ("file", TimeoutError("slow"), StorageUnavailableError),
        ("file", socket.gaierror(-2, "Name or service not known"), StorageUnavailableError),
        ("file", IsADirectoryError("a folder"), StorageNotFoundError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_vendor_exceptions_become_storage_errors(
    scheme: str, error: Exception, kind: type[StorageError]
) -> None:
    uri = f"{scheme}://bucket/models/pets/3/pets.onnx"
    translated_error = translate(error, vendor_for(scheme), S3_ENV, uri, "reading")
    assert type(translated_error) is kind
    assert uri in translated_error.message
    if kind is not StorageNotFoundError:
        assert translated_error.hint


def test_hints_name_the_setting_to_check() -> None:
    refused = translate(
        botocore.EndpointConnectionError(endpoint_url="http://x"),
        vendor_for("s3"),
        S3_ENV,
        "s3://b/k",
        "reading",
    )
    assert "at http://127.0.0.1:9" in refused.message
    assert refused.hint is not None and "AWS_ENDPOINT_URL_S3" in refused.hint
    denied = translate(botocore.NoCredentialsError(), vendor_for("s3"), {}, "s3://b/k", "writing")
    assert "while writing" in denied.message
    assert denied.hint is not None and "AWS_ACCESS_KEY_ID" in denied.hint
    gcs = translate(FSTimeoutError(), vendor_for("gs"), {}, "gs://b/k", "reading")
    assert gcs.hint is not None and "STORAGE_EMULATOR_HOST" in gcs.hint


def test_something_unrecognised_is_a_plain_storage_error() -> None:
    error = translate(RuntimeError("odd"), vendor_for("s3"), {}, "s3://b/k", "reading")
    assert type(error) is StorageError and "odd" in error.message


def test_localvision_errors_pass_through_unchanged() -> None:
    mine = InvalidParameterError("already ours")
    with (
        pytest.raises(InvalidParameterError) as raised,
        translated(vendor_for("s3"), {}, "s3://b/k", "reading"),
    ):
        raise mine
    assert raised.value is mine
    with (
        pytest.raises(StorageNotFoundError) as missing,
        translated(vendor_for("s3"), {}, "s3://b/k", "reading"),
    ):
        raise FileNotFoundError("b/k")
    assert isinstance(missing.value.__cause__, FileNotFoundError)


def test_each_endpoint_gets_its_own_filesystem() -> None:
    """fsspec caches filesystems by their arguments; the environment's endpoint and keys are
    arguments, so a changed environment never reuses a filesystem built for another."""
    s3 = vendor_for("s3")
    first = s3.open({**S3_ENV, "AWS_SECRET_ACCESS_KEY": "s"})
    same = s3.open({**S3_ENV, "AWS_SECRET_ACCESS_KEY": "s"})
    other = s3.open({**S3_ENV, "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL_S3": "http://h:1"})
    assert first is same and first is not other
    assert first.endpoint_url == "http://127.0.0.1:9" and other.endpoint_url == "http://h:1"
    assert first.key == "k" and first.secret == "s"


def test_endpoints_read_from_the_environment() -> None:
    assert vendor_for("gs").endpoint({"STORAGE_EMULATOR_HOST": "127.0.0.1:4443"}) == (
        "http://127.0.0.1:4443"
    )
    assert vendor_for("gs").endpoint({"STORAGE_EMULATOR_HOST": "https://gcs.local"}) == (
        "https://gcs.local"
    )
    assert vendor_for("gs").endpoint({}) is None
    connection = "DefaultEndpointsProtocol=http;AccountName=a;BlobEndpoint=http://h:10000/a;"
    assert vendor_for("az").endpoint({"AZURE_STORAGE_CONNECTION_STRING": connection}) == (
        "http://h:10000/a"
    )
    assert vendor_for("az").endpoint({}) is None
    assert vendor_for("s3").endpoint({"AWS_ENDPOINT_URL": "http://m:9000"}) == "http://m:9000"
    assert vendor_for("abfs") is vendor_for("az")
