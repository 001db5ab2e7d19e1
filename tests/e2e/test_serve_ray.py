"""``serve --ray``: the server's app on Ray Serve, two replicas, asked by the official clients.

The deployment runs on the session's local Ray (tests/ray_cluster.py), behind Serve's proxy on
127.0.0.1; the answers are compared with the plain server's for the same model and images.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from localvision.config import ModelConfig, Settings

from ..conftest import solid_jpeg
from ..ray_cluster import RayCluster
from ..servers import CLIENT_TIMEOUT_S, LiveServer

pytestmark = pytest.mark.ray

vision = pytest.importorskip("google.cloud.vision", reason="google-cloud-vision is a dev extra")
boto3 = pytest.importorskip("boto3", reason="boto3 is a dev extra")
from botocore.config import Config  # noqa: E402
from google.api_core.client_options import ClientOptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402

IMAGES = [solid_jpeg((230, 20, 20)), solid_jpeg((20, 20, 230)), solid_jpeg((128, 128, 128))]


@pytest.fixture(scope="module")
def on_ray_serve(
    ray_cluster: RayCluster, colour_model_path: Path, isolated_home: Path
) -> Iterator[str]:
    """The colour model's server deployed on Ray Serve with two replicas; its base URL."""
    from ray import serve

    from localvision.scale.ray_serve import APP_NAME, deploy

    settings = Settings(
        home=isolated_home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
    )
    deploy(settings, replicas=2)
    try:
        yield ray_cluster.serve_url
    finally:
        serve.delete(APP_NAME)


def google_labels(url: str, image: bytes) -> list[tuple[str, float]]:
    client = vision.ImageAnnotatorClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=url),
    )
    response = client.label_detection(image=vision.Image(content=image))
    assert response.error.code == 0
    return [(a.description, round(a.score, 5)) for a in response.label_annotations]


def aws_labels(url: str, image: bytes) -> list[tuple[str, float]]:
    client = boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="test-secret",
        config=Config(retries={"max_attempts": 1}, read_timeout=CLIENT_TIMEOUT_S),
    )
    answer = client.detect_labels(Image={"Bytes": image}, MinConfidence=0)
    return [(lab["Name"], round(lab["Confidence"], 3)) for lab in answer["Labels"]]


def test_google_and_aws_clients_get_the_plain_servers_labels(
    on_ray_serve: str, colour_server: LiveServer
) -> None:
    for image in IMAGES:
        on_ray = google_labels(on_ray_serve, image)
        assert on_ray == google_labels(colour_server.url, image) and on_ray
        assert aws_labels(on_ray_serve, image) == aws_labels(colour_server.url, image)
    assert google_labels(on_ray_serve, IMAGES[0])[0][0] == "red"


def test_two_replicas_run_and_the_server_routes_answer(on_ray_serve: str) -> None:
    from ray import serve

    from localvision.scale.ray_serve import APP_NAME

    deployments = serve.status().applications[APP_NAME].deployments
    (deployment,) = deployments.values()
    assert deployment.replica_states == {"RUNNING": 2}
    with httpx.Client(base_url=on_ray_serve, timeout=CLIENT_TIMEOUT_S) as http:
        assert http.get("/readyz").status_code == 200
        assert "localvision" in http.get("/metrics").text
        bad = http.post("/v1/images:annotate", json={"requests": "not a list"})
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
