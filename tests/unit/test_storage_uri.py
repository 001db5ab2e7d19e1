"""Storage URIs: one parsed form per place, and refusals that say what to write instead."""

from __future__ import annotations

import pytest

from localvision.errors import InvalidParameterError
from localvision.storage import SCHEMES, StorageURI, is_storage_uri, parse_uri


@pytest.mark.parametrize(
    ("text", "scheme", "bucket", "key", "canonical"),
    [
        ("s3://bucket/a/b/", "s3", "bucket", "a/b", "s3://bucket/a/b"),
        ("S3://bucket//a///b", "s3", "bucket", "a/b", "s3://bucket/a/b"),
        ("gs://team-models", "gs", "team-models", "", "gs://team-models"),
        ("gs://team-models/", "gs", "team-models", "", "gs://team-models"),
        ("az://container/pets/3", "az", "container", "pets/3", "az://container/pets/3"),
        ("abfs://lake/m", "abfs", "lake", "m", "abfs://lake/m"),
        ("file:///srv/models/", "file", "", "/srv/models", "file:///srv/models"),
        ("file://localhost/srv/x", "file", "", "/srv/x", "file:///srv/x"),
        ("file:///", "file", "", "/", "file:///"),
    ],
)
def test_parse(text: str, scheme: str, bucket: str, key: str, canonical: str) -> None:
    uri = parse_uri(text)
    assert (uri.scheme, uri.bucket, uri.key) == (scheme, bucket, key)
    assert str(uri) == canonical
    assert parse_uri(str(uri)) == uri


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/srv/models", "not a storage URI"),
        ("http://host/models", "not a storage URI"),
        ("ftp://host/models", "not a storage URI"),
        ("s3://", "no valid bucket"),
        ("s3:///key", "no valid bucket"),
        ("gs://bad bucket/key", "no valid bucket"),
        ("s3://bucket/a/../b", "'.' or '..'"),
        ("s3://bucket/./a", "'.' or '..'"),
        ("file://relative/path", "not an absolute file:// URI"),
        ("file://server/share", "not an absolute file:// URI"),
        ("file:///srv/../etc", "'.' or '..'"),
        ("az://container@account.dfs.core.windows.net/m", "names the account"),
    ],
)
def test_refused_with_a_hint(text: str, says: str) -> None:
    with pytest.raises(InvalidParameterError, match=says) as raised:
        parse_uri(text)
    assert raised.value.hint


def test_child_and_name() -> None:
    root = parse_uri("s3://models/team/")
    assert str(root.child("pets", "3")) == "s3://models/team/pets/3"
    assert str(root.child("pets/3/")) == "s3://models/team/pets/3"
    assert root.child("pets", "3").name == "3"
    assert root.child() == root
    assert str(parse_uri("gs://b").child("x")) == "gs://b/x"
    assert str(parse_uri("file:///srv").child("a", "b")) == "file:///srv/a/b"
    assert str(parse_uri("file:///").child("a")) == "file:///a"
    with pytest.raises(InvalidParameterError):
        root.child("..", "other")
    assert StorageURI("s3", "b", "").name == ""


def test_is_storage_uri() -> None:
    assert all(is_storage_uri(f"{scheme}://x/y") for scheme in SCHEMES)
    assert is_storage_uri("GS://bucket")
    for text in ("models/pets.onnx", "https://host/m.onnx", "hf://o/r/m.onnx", "s3:/x", ""):
        assert not is_storage_uri(text)
