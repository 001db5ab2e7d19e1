"""What a user sees when storage goes wrong, on the real stand-ins: wrong credentials, a
missing bucket or object, an unreachable endpoint, and read_object's size limit.

What the stand-ins can emulate: moto checks credentials once its IAM checks are on
(:func:`moto_checks_credentials`) and Azurite always checks the account key's signature; the
GCS emulator checks no credentials at all, so "wrong credentials" is not tested on GCS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localvision.errors import (
    ImageTooLargeError,
    InvalidParameterError,
    StorageAccessDeniedError,
    StorageNotFoundError,
    StorageUnavailableError,
)
from localvision.registry import Registry
from localvision.storage import fetch_model, pull, push, read_object

from ..storage_stand_ins import StandIn, moto_checks_credentials, put_object
from .storage_support import colours_registry, remote_store, store
from .test_storage_cache import away

__all__ = ["remote_store", "store"]  # the fixtures, imported for pytest

ENDPOINT_VARIABLE = {
    "s3": "AWS_ENDPOINT_URL_S3",
    "gs": "STORAGE_EMULATOR_HOST",
    "az": "AZURE_STORAGE_CONNECTION_STRING",
}


def test_wrong_credentials_on_s3_are_access_denied(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    registry, _ = colours_registry(tmp_path / "publisher", colour_model_path)
    folder = s3_stand_in.folder("denied")
    put_object(s3_stand_in, f"{folder}/in.jpg", b"image bytes")
    wrong = {**s3_stand_in.env, "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG0"}

    with moto_checks_credentials(s3_stand_in):
        with pytest.raises(StorageAccessDeniedError) as reading:
            read_object(f"{folder}/in.jpg", max_bytes=1000, environ=wrong)
        with pytest.raises(StorageAccessDeniedError):
            push(registry, "colours@1", folder, environ=wrong)
        with pytest.raises(StorageAccessDeniedError):
            fetch_model(f"{folder}/colours/1", tmp_path / "home", environ=wrong)

    assert f"{folder}/in.jpg" in reading.value.message
    assert reading.value.message.startswith("S3 refused access to")
    assert reading.value.hint is not None and "AWS_ACCESS_KEY_ID" in reading.value.hint
    # With the checks off again the same key reads: the refusal was about the credentials.
    assert read_object(f"{folder}/in.jpg", max_bytes=1000, environ=wrong) == b"image bytes"


def test_a_wrong_account_key_on_azure_is_access_denied(azure_blob_stand_in: StandIn) -> None:
    folder = azure_blob_stand_in.folder("denied")
    put_object(azure_blob_stand_in, f"{folder}/in.jpg", b"image bytes")
    connection = azure_blob_stand_in.env["AZURE_STORAGE_CONNECTION_STRING"]
    key = connection.split("AccountKey=")[1].split(";")[0]
    wrong = {"AZURE_STORAGE_CONNECTION_STRING": connection.replace(key, "A" * 86 + "==")}

    with pytest.raises(StorageAccessDeniedError) as raised:
        read_object(f"{folder}/in.jpg", max_bytes=1000, environ=wrong)
    assert raised.value.hint is not None and "AZURE_STORAGE_CONNECTION_STRING" in raised.value.hint


def test_no_azure_account_at_all_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(StorageAccessDeniedError, match="No Azure storage account") as raised:
        read_object("az://container/in.jpg", max_bytes=10, environ={})
    assert raised.value.hint is not None and "AZURE_STORAGE_ACCOUNT_NAME" in raised.value.hint


def test_missing_bucket_and_object(store: StandIn, tmp_path: Path) -> None:
    no_bucket = f"{store.scheme}://lv-no-such-bucket/models/colours/1"
    if store.scheme == "file":
        no_bucket = f"{store.root}/no-such-folder/colours/1"
    no_object = f"{store.folder('missing')}/nothing.jpg"

    for uri in (no_bucket, no_object):
        with pytest.raises(StorageNotFoundError) as raised:
            read_object(uri, max_bytes=1000, environ=store.env)
        assert uri in raised.value.message
    with pytest.raises(StorageNotFoundError, match="No pushed model"):
        pull(no_bucket, Registry(tmp_path / "consumer"), environ=store.env)
    with pytest.raises(StorageNotFoundError, match="No pushed model"):
        fetch_model(no_bucket, tmp_path / "home", environ=store.env)


def test_an_unreachable_store_is_unavailable_and_names_the_endpoint(
    remote_store: StandIn,
) -> None:
    store = remote_store
    uri = f"{store.root}/somewhere/in.jpg"
    with pytest.raises(StorageUnavailableError) as raised:
        read_object(uri, max_bytes=1000, environ=away(store))
    assert uri in raised.value.message and "127.0.0.1" in raised.value.message
    assert raised.value.hint is not None and ENDPOINT_VARIABLE[store.scheme] in raised.value.hint


def test_push_and_pull_with_the_store_down(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    down = away(s3_stand_in)
    registry, _ = colours_registry(tmp_path / "publisher", colour_model_path)
    with pytest.raises(StorageUnavailableError, match="AWS_ENDPOINT_URL_S3|Cannot reach S3"):
        push(registry, "colours@1", f"{s3_stand_in.root}/somewhere", environ=down)
    consumer = Registry(tmp_path / "consumer")
    with pytest.raises(StorageUnavailableError):
        pull(f"{s3_stand_in.root}/somewhere/colours/1", consumer, environ=down)
    assert consumer.entries() == []


def test_read_object_keeps_to_its_limit(store: StandIn) -> None:
    folder = store.folder("limits")
    put_object(store, f"{folder}/ten.bin", b"0123456789")
    put_object(store, f"{folder}/empty.bin", b"")

    assert read_object(f"{folder}/ten.bin", max_bytes=10, environ=store.env) == b"0123456789"
    assert read_object(f"{folder}/empty.bin", max_bytes=10, environ=store.env) == b""
    with pytest.raises(ImageTooLargeError, match="10 bytes; the limit is 9"):
        read_object(f"{folder}/ten.bin", max_bytes=9, environ=store.env)
    with pytest.raises(StorageNotFoundError):
        read_object(folder, max_bytes=10, environ=store.env)  # a folder, not an object
    if store.scheme != "file":
        with pytest.raises(InvalidParameterError, match="names a bucket"):
            read_object(store.root, max_bytes=10, environ=store.env)
