"""Reading one object version: refused before any request where the store has no versions
(or the key would be taken for one), and the store's "no such version" answers named as such.
The reads themselves are tested on moto in tests/integration/test_storage_versions.py."""

from __future__ import annotations

import pytest

from localvision.errors import InvalidParameterError, StorageError, StorageNotFoundError
from localvision.storage import read_object
from localvision.storage.vendor_errors import translate
from localvision.storage.vendors import vendor_for

botocore = pytest.importorskip("botocore.exceptions", reason="the storage extra brings botocore")

# Where nothing listens: a request that got this far would fail as unreachable, not invalid.
NOWHERE = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9", "STORAGE_EMULATOR_HOST": "127.0.0.1:9"}


@pytest.mark.parametrize(
    "uri", ["gs://photos/in/cat.jpg", "az://photos/in/cat.jpg", "file:///srv/photos/cat.jpg"]
)
def test_a_version_is_refused_where_objects_have_none(uri: str) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        read_object(uri, max_bytes=1000, environ=NOWHERE, version="v1")
    assert uri in refused.value.message and "'v1'" in refused.value.message
    assert "current version only" in refused.value.message
    assert refused.value.hint is not None and "Leave the version out" in refused.value.hint


@pytest.mark.parametrize(
    ("uri", "version", "says"),
    [
        ("s3://photos/in/cat.jpg", "", "empty"),
        ("s3://photos/in/cat.jpg?versionId=x", "v1", "?versionId="),
    ],
)
def test_s3_versions_that_cannot_be_asked_for_are_refused_before_any_request(
    uri: str, version: str, says: str
) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        read_object(uri, max_bytes=1000, environ=NOWHERE, version=version)
    assert says in refused.value.message


def _client_error(status: int, code: str, operation: str) -> Exception:
    """What botocore raises for an S3 answer, wrapped in the OSError s3fs raises for it."""
    answer = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    cause = botocore.ClientError(answer, operation)  # type: ignore[arg-type]
    wrapped = OSError(22, "Bad Request") if status == 400 else FileNotFoundError("b/k")
    wrapped.__cause__ = cause
    return wrapped


@pytest.mark.parametrize(
    "error",
    [_client_error(404, "NoSuchVersion", "GetObject"), _client_error(400, "400", "HeadObject")],
    ids=["no-such-version", "malformed-version-id"],
)
def test_a_missing_version_is_not_found_and_named(error: Exception) -> None:
    found = translate(error, vendor_for("s3"), {}, "s3://b/k", "reading", version="3sL4kq")
    assert type(found) is StorageNotFoundError
    assert "s3://b/k has no version '3sL4kq'" in found.message
    assert found.hint is not None and "list-object-versions" in found.hint


def test_a_bad_request_without_a_version_stays_a_plain_storage_error() -> None:
    error = translate(
        _client_error(400, "400", "HeadObject"), vendor_for("s3"), {}, "s3://b/k", "reading"
    )
    assert type(error) is StorageError and "Bad Request" in error.message
