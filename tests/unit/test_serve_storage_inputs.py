"""Input images by storage URI: the allow-list, Rekognition's ``Image.S3Object``, and how each
protocol renders the storage errors (never a 500)."""

from __future__ import annotations

import base64

import pytest

from localvision import errors
from localvision.server.storage_inputs import StorageImages, names_storage_object
from localvision.wire import google_vision, rekognition
from localvision.wire.rekognition import S3Object

ALLOW = ["s3://photos", "gs://team-images/incoming", "az://scans"]


def images(allow: list[str] = ALLOW) -> StorageImages:
    return StorageImages(allow, max_bytes=1024, timeout_s=5)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://photos/cat.jpg",
        "s3://photos/deep/down/cat.jpg",
        "gs://team-images/incoming/cat.jpg",
        "gs://team-images/incoming/2024/cat.jpg",
        "az://scans/page.png",
        "abfs://scans/page.png",  # adlfs reads the same containers under both schemes
    ],
)
def test_objects_in_allowed_buckets_and_folders_pass(uri: str) -> None:
    images().check(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://other/cat.jpg",
        "s3://photos-2/cat.jpg",  # a longer bucket name is another bucket
        "gs://photos/cat.jpg",  # the same name in another store
        "gs://team-images/cat.jpg",  # outside the allowed folder
        "gs://team-images/incoming2/cat.jpg",  # a sibling folder sharing its prefix
    ],
)
def test_anything_else_is_denied(uri: str) -> None:
    with pytest.raises(errors.StorageAccessDeniedError, match="does not read images from"):
        images().check(uri)


def test_nothing_is_allowed_by_default() -> None:
    with pytest.raises(errors.StorageAccessDeniedError, match=r"\[storage\] allow"):
        images([]).check("s3://photos/cat.jpg")


@pytest.mark.parametrize(
    "uri", ["gs://team-images/incoming/../private/x.jpg", "s3://photos/./x.jpg", "s3://photos"]
)
def test_dot_segments_and_bare_buckets_are_invalid(uri: str) -> None:
    with pytest.raises(errors.InvalidParameterError):
        images().check(uri)


def test_which_uris_are_storage_objects() -> None:
    assert names_storage_object("gs://b/o.jpg") and names_storage_object("S3://b/o.jpg")
    assert not names_storage_object("https://example.com/o.jpg")
    assert not names_storage_object("file:///etc/passwd")  # never read from the server's disk


def test_rekognition_parses_s3_object() -> None:
    body = {"Image": {"S3Object": {"Bucket": "photos", "Name": "a/cat.jpg", "Version": "v1"}}}
    parsed = rekognition.parse_detect_labels(body)
    assert parsed.image == S3Object("photos", "a/cat.jpg", "v1")
    assert parsed.image.uri == "s3://photos/a/cat.jpg"


@pytest.mark.parametrize(
    "image",
    [
        {"S3Object": {"Bucket": "ab", "Name": "cat.jpg"}},  # buckets are 3..255 characters
        {"S3Object": {"Bucket": "photos", "Name": ""}},
        {"S3Object": {"Bucket": "photos", "Name": "x", "Version": 3}},
        {"S3Object": "s3://photos/cat.jpg"},
        {"S3Object": {"Bucket": "photos", "Name": "x"}, "Bytes": base64.b64encode(b"x").decode()},
    ],
)
def test_rekognition_refuses_malformed_s3_objects(image: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidParameterError):
        rekognition.parse_detect_labels({"Image": image})


def test_rekognition_checks_the_format_of_objects_it_read() -> None:
    assert rekognition.check_image(b"\x89PNG\r\n\x1a\nrest") == b"\x89PNG\r\n\x1a\nrest"
    with pytest.raises(rekognition.InvalidImageFormatError):
        rekognition.check_image(b"GIF89a")


STORAGE_ERRORS = [
    (errors.StorageNotFoundError, "NOT_FOUND", 404),
    (errors.StorageAccessDeniedError, "PERMISSION_DENIED", 403),
    (errors.StorageUnavailableError, "UNAVAILABLE", 503),
    (errors.ChecksumMismatchError, "UNAVAILABLE", 503),
    (errors.StorageError, "UNAVAILABLE", 503),
]


@pytest.mark.parametrize(("cls", "rpc", "http"), STORAGE_ERRORS)
def test_google_renders_storage_errors_with_their_own_codes(
    cls: type[errors.StorageError], rpc: str, http: int
) -> None:
    error = cls("gs://team-images/x.jpg: what happened", hint="what to do")
    status = google_vision.status(error)
    assert status["code"] == int(google_vision.RpcCode[rpc])
    assert "gs://team-images/x.jpg" in status["message"] and "what to do" in status["message"]
    whole, body = google_vision.error_response(error)
    assert (whole, body["error"]["status"]) == (http, rpc)


@pytest.mark.parametrize(("cls", "rpc", "http"), STORAGE_ERRORS)
def test_rekognition_answers_invalid_s3_object_for_every_storage_error(
    cls: type[errors.StorageError], rpc: str, http: int
) -> None:
    status, name, body = rekognition.error_response(cls("s3://photos/x.jpg: what happened"))
    assert (status, name, body["__type"]) == (400, "InvalidS3ObjectException", name)
    assert "s3://photos/x.jpg" in body["message"]
