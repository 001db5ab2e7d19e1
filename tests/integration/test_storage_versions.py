"""read_object at an S3 object version, on moto: a bucket with versioning on, one key written
twice, each version read back as it was; a version that does not exist is named as missing,
and the size limit is checked against the version read, not the current one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from localvision.errors import ImageTooLargeError, StorageNotFoundError
from localvision.storage import read_object

from ..storage_stand_ins import BUCKET, StandIn

boto3 = pytest.importorskip("boto3", reason="boto3 is a dev extra")


def s3_client(stand_in: StandIn) -> Any:
    env = stand_in.env
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@dataclass(frozen=True)
class Versions:
    """One key in a versioned bucket, written twice: ``older`` then ``newer`` (version ids)."""

    uri: str
    older: str
    newer: str


OLDER, NEWER = b"the first version, the longer one", b"the second version"


@pytest.fixture(scope="module")
def versions(s3_stand_in: StandIn) -> Versions:
    client = s3_client(s3_stand_in)
    bucket = f"lv-versions-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    older = client.put_object(Bucket=bucket, Key="in/object.bin", Body=OLDER)["VersionId"]
    newer = client.put_object(Bucket=bucket, Key="in/object.bin", Body=NEWER)["VersionId"]
    assert older != newer
    return Versions(f"s3://{bucket}/in/object.bin", older, newer)


def test_each_version_reads_as_it_was_written(versions: Versions, s3_stand_in: StandIn) -> None:
    env = s3_stand_in.env
    assert read_object(versions.uri, max_bytes=1000, environ=env, version=versions.older) == OLDER
    assert read_object(versions.uri, max_bytes=1000, environ=env, version=versions.newer) == NEWER
    assert read_object(versions.uri, max_bytes=1000, environ=env) == NEWER


def test_a_version_that_does_not_exist_is_not_found_and_named(
    versions: Versions, s3_stand_in: StandIn
) -> None:
    missing = str(uuid.uuid4())  # shaped like moto's version ids, but never written
    with pytest.raises(StorageNotFoundError) as raised:
        read_object(versions.uri, max_bytes=1000, environ=s3_stand_in.env, version=missing)
    assert f"{versions.uri} has no version {missing!r}" in raised.value.message


def test_a_version_in_a_bucket_without_versioning_is_not_found(s3_stand_in: StandIn) -> None:
    uri = f"s3://{BUCKET}/versions-{uuid.uuid4().hex[:10]}/plain.bin"
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3_client(s3_stand_in).put_object(Bucket=bucket, Key=key, Body=b"plain")
    with pytest.raises(StorageNotFoundError) as raised:  # S3 answers a bare 400 here
        read_object(uri, max_bytes=1000, environ=s3_stand_in.env, version="3HL4kqtJlcpXroDTDmJ")
    assert "has no version '3HL4kqtJlcpXroDTDmJ'" in raised.value.message
    assert read_object(uri, max_bytes=1000, environ=s3_stand_in.env) == b"plain"


def test_the_size_limit_applies_to_the_version_read(
    versions: Versions, s3_stand_in: StandIn
) -> None:
    limit = len(NEWER)  # the current version fits, the older one does not
    env = s3_stand_in.env
    assert read_object(versions.uri, max_bytes=limit, environ=env) == NEWER
    with pytest.raises(ImageTooLargeError, match=f"{len(OLDER)} bytes"):
        read_object(versions.uri, max_bytes=limit, environ=env, version=versions.older)
