"""Input images by storage URI through a real server and the official clients: boto3's
``Image.S3Object`` (with and without ``Version``) against the S3 stand-in (moto),
google-cloud-vision's ``gs://`` imageUri against the GCS emulator. Allowed buckets (and folders)
are read; everything else is refused in the protocol's own error format, and the server keeps
serving."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from localvision.config import ModelConfig, Settings, StorageSettings

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server
from ..storage_stand_ins import StandIn, closed_endpoint, put_object

vision = pytest.importorskip("google.cloud.vision", reason="google-cloud-vision is a dev extra")
boto3 = pytest.importorskip("boto3", reason="boto3 is a dev extra")
from botocore.config import Config  # noqa: E402
from google.api_core.client_options import ClientOptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402

RED, GREEN = (240, 10, 10), (10, 230, 10)
DENIED_BUCKET = "lv-not-allowed"
LABELS = vision.Feature.Type.LABEL_DETECTION


@dataclass(frozen=True)
class Inputs:
    """Where this module's images are: an allowed folder in each stand-in's bucket (a red
    image in S3, a green one in GCS), the same images in a bucket that is not allowed, a
    folder of the S3 bucket outside the allowed one, and an allowed object in a versioned S3
    bucket written twice: green (``older``), then red (``newer``)."""

    s3: str
    gs: str
    s3_outside: str
    versioned: Versioned

    def denied(self, scheme: str) -> str:
        return f"{scheme}://{DENIED_BUCKET}/inputs/image.jpg"


@dataclass(frozen=True)
class Versioned:
    """An object in a bucket with versioning on, and the ids of its two versions."""

    uri: str
    older: str
    newer: str

    @property
    def folder(self) -> str:
        """The folder holding the object: what ``[storage] allow`` lists."""
        return self.uri.rpartition("/")[0]

    @classmethod
    def written(cls, client: Any) -> Versioned:
        """A fresh versioned bucket holding a green image, then a red one, at one key."""
        bucket = f"lv-versions-{uuid.uuid4().hex[:10]}"
        client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        ids = [
            client.put_object(Bucket=bucket, Key="in/image.jpg", Body=solid_jpeg(colour))[
                "VersionId"
            ]
            for colour in (GREEN, RED)
        ]
        return cls(f"s3://{bucket}/in/image.jpg", *ids)


@pytest.fixture(scope="module")
def inputs(s3_stand_in: StandIn, gcs_stand_in: StandIn) -> Iterator[Inputs]:
    """The images in place, and the process environment pointing the vendors' chains at the
    stand-ins (the in-process server's storage layer reads it when it reads an object)."""
    found = Inputs(
        s3_stand_in.folder("inputs"),
        gcs_stand_in.folder("inputs"),
        s3_stand_in.folder("outside"),
        Versioned.written(s3_client(s3_stand_in)),
    )
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {**s3_stand_in.env, **gcs_stand_in.env}.items():
            patch.setenv(key, value)
        s3_client(s3_stand_in).create_bucket(Bucket=DENIED_BUCKET)
        gcs_client(gcs_stand_in).create_bucket(DENIED_BUCKET)
        for stand_in, folder, image in (
            (s3_stand_in, found.s3, solid_jpeg(RED)),
            (gcs_stand_in, found.gs, solid_jpeg(GREEN)),
        ):
            put_object(stand_in, f"{folder}/image.jpg", image)
            put_object(stand_in, found.denied(stand_in.scheme), image)
        put_object(s3_stand_in, f"{found.s3_outside}/image.jpg", solid_jpeg(RED))
        put_object(s3_stand_in, f"{found.s3}/not-an-image.gif", b"GIF89a....")
        yield found


@pytest.fixture(scope="module")
def server(
    inputs: Inputs, colour_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        models={"colours": ModelConfig(path=str(colour_model_path))},
        storage=StorageSettings(allow=[inputs.s3, inputs.gs, inputs.versioned.folder]),
    )
    with live_server(settings) as live:
        yield live


def s3_client(stand_in: StandIn) -> Any:
    env = stand_in.env
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def gcs_client(stand_in: StandIn) -> Any:
    from google.cloud import storage as gcs

    return gcs.Client(
        project="lv-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": stand_in.endpoint},
    )


def rekognition(server: LiveServer) -> Any:
    return boto3.client(
        "rekognition",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=CLIENT_TIMEOUT_S,
            read_timeout=CLIENT_TIMEOUT_S,
        ),
    )


def google(server: LiveServer) -> Any:
    return vision.ImageAnnotatorClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=server.url),
    )


def s3_object(uri: str) -> dict[str, dict[str, str]]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return {"S3Object": {"Bucket": bucket, "Name": key}}


def by_uri(uri: str) -> Any:
    return vision.AnnotateImageRequest(
        image=vision.Image(source=vision.ImageSource(image_uri=uri)),
        features=[vision.Feature(type_=LABELS, max_results=1)],
    )


def still_serving(server: LiveServer) -> None:
    labels = rekognition(server).detect_labels(Image={"Bytes": solid_jpeg(GREEN)})["Labels"]
    assert labels[0]["Name"] == "green"


# -------------------------------------------------------------------- Rekognition S3Object


def test_s3_object_in_an_allowed_folder_is_labelled(server: LiveServer, inputs: Inputs) -> None:
    image = s3_object(f"{inputs.s3}/image.jpg")
    labels = rekognition(server).detect_labels(Image=image, MaxLabels=1)["Labels"]
    assert [label["Name"] for label in labels] == ["red"]


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("denied", "does not read images from"),  # a bucket outside the allow-list
        ("outside", "does not read images from"),  # the right bucket, outside the folder
        ("missing", "missing.jpg"),  # allowed, but no such object
    ],
)
def test_s3_objects_it_may_not_or_cannot_read_are_invalid_s3_object(
    server: LiveServer, inputs: Inputs, which: str, message: str
) -> None:
    uri = {
        "denied": inputs.denied("s3"),
        "outside": f"{inputs.s3_outside}/image.jpg",
        "missing": f"{inputs.s3}/missing.jpg",
    }[which]
    client = rekognition(server)
    with pytest.raises(client.exceptions.InvalidS3ObjectException) as info:
        client.detect_labels(Image=s3_object(uri))
    assert message in info.value.response["Error"]["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    still_serving(server)


def test_s3_object_version_reads_that_version(server: LiveServer, inputs: Inputs) -> None:
    image = s3_object(inputs.versioned.uri)
    client = rekognition(server)

    def colour(**version: str) -> str:
        labels = client.detect_labels(Image={"S3Object": {**image["S3Object"], **version}})
        return str(labels["Labels"][0]["Name"])

    assert colour(Version=inputs.versioned.older) == "green"
    assert colour(Version=inputs.versioned.newer) == "red"
    assert colour() == "red"  # no Version: the current one


def test_an_s3_object_version_that_does_not_exist_is_invalid_s3_object(
    server: LiveServer, inputs: Inputs
) -> None:
    missing = str(uuid.uuid4())
    image = {"S3Object": {**s3_object(inputs.versioned.uri)["S3Object"], "Version": missing}}
    client = rekognition(server)
    with pytest.raises(client.exceptions.InvalidS3ObjectException) as info:
        client.detect_labels(Image=image)
    assert f"has no version {missing!r}" in info.value.response["Error"]["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    still_serving(server)


def test_an_s3_object_that_is_no_jpeg_or_png_is_refused_as_rekognition_does(
    server: LiveServer, inputs: Inputs
) -> None:
    client = rekognition(server)
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.detect_labels(Image=s3_object(f"{inputs.s3}/not-an-image.gif"))


def test_an_s3_object_over_the_upload_limit_is_too_large(
    server: LiveServer, inputs: Inputs, s3_stand_in: StandIn
) -> None:
    limit = server.state.settings.max_image_bytes
    put_object(s3_stand_in, f"{inputs.s3}/huge.jpg", b"\xff\xd8\xff" + b"\0" * limit)
    client = rekognition(server)
    with pytest.raises(client.exceptions.ImageTooLargeException):
        client.detect_labels(Image=s3_object(f"{inputs.s3}/huge.jpg"))


# ---------------------------------------------------------------------- Google gs:// URIs


def test_gs_image_uri_in_an_allowed_bucket_is_labelled(server: LiveServer, inputs: Inputs) -> None:
    source = vision.ImageSource(image_uri=f"{inputs.gs}/image.jpg")
    response = google(server).label_detection(image=vision.Image(source=source))
    assert response.error.code == 0, response.error.message
    assert response.label_annotations[0].description == "green"


def test_gs_image_uris_it_may_not_or_cannot_read_are_per_image_errors(
    server: LiveServer, inputs: Inputs
) -> None:
    uris = (inputs.denied("gs"), f"{inputs.gs}/missing.jpg", f"{inputs.gs}/image.jpg")
    batch = google(server).batch_annotate_images(requests=[by_uri(uri) for uri in uris])
    denied, missing, fine = batch.responses
    assert denied.error.code == 7 and "does not read images from" in denied.error.message
    assert missing.error.code == 5 and "missing.jpg" in missing.error.message
    assert fine.error.code == 0 and fine.label_annotations[0].description == "green"
    still_serving(server)


def test_the_deprecated_gcs_image_uri_field_is_read_too(server: LiveServer, inputs: Inputs) -> None:
    body = {
        "requests": [
            {
                "image": {"source": {"gcsImageUri": f"{inputs.gs}/image.jpg"}},
                "features": [{"type": "LABEL_DETECTION", "maxResults": 1}],
            }
        ]
    }
    answer = httpx.post(server.url + "/v1/images:annotate", json=body, timeout=CLIENT_TIMEOUT_S)
    assert answer.json()["responses"][0]["labelAnnotations"][0]["description"] == "green"


def test_a_store_that_cannot_be_reached_is_unavailable_per_image(
    server: LiveServer, inputs: Inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", closed_endpoint())
    batch = google(server).batch_annotate_images(requests=[by_uri(f"{inputs.gs}/image.jpg")])
    assert batch.responses[0].error.code == 14
    still_serving(server)


# ------------------------------------------------------------------------------- native


def test_native_uris_go_through_the_same_allow_list(server: LiveServer, inputs: Inputs) -> None:
    body = {"images": [{"uri": f"{inputs.s3}/image.jpg"}, {"uri": inputs.denied("s3")}]}
    answer = httpx.post(server.url + "/v1/annotate", json=body, timeout=CLIENT_TIMEOUT_S)
    allowed, denied = answer.json()["results"]
    assert allowed["labels"][0]["label"] == "red"
    assert denied["error"]["code"] == "storage_access_denied"
