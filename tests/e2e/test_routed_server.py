"""A server that routes through the policy router: the official Google client sends requests
to it, and it sends what may leave on to a second local server standing in for the cloud."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localvision.cloud.audit import AuditLog
from localvision.config import (
    CloudSettings,
    GoogleProviderSettings,
    ModelConfig,
    RouterSettings,
    ServerSettings,
    Settings,
)
from localvision.errors import EgressDeniedError
from localvision.server import ServerState
from localvision.server.auth import hash_key

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server

vision = pytest.importorskip("google.cloud.vision", reason="google-cloud-vision is a dev extra")
pytest.importorskip("httpx", reason="the cloud extra calls providers")
from google.api_core.client_options import ClientOptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402

LABELS = vision.Feature.Type.LABEL_DETECTION
PRIVATE_KEY = "team-medical-key"


def routed_settings(home: Path, colour_model_path: Path, cloud_url: str, egress: str) -> Settings:
    return Settings(
        home=home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
        server=ServerSettings(private_keys=[hash_key(PRIVATE_KEY), "AKIDPRIVATE"]),
        cloud=CloudSettings(
            egress=egress,
            google=GoogleProviderSettings(
                api_key="k", endpoint=cloud_url, retries=0, timeout_s=CLIENT_TIMEOUT_S
            ),
            router=RouterSettings(routes={"labels": ["google", "local"]}, privacy=["caller"]),
        ),
    )


@pytest.fixture(scope="module")
def routed(
    colour_model_path: Path, colour_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("routed")
    settings = routed_settings(home, colour_model_path, colour_server.url, "allow")
    with live_server(settings) as server:
        yield server


def ask(
    server: LiveServer, colour: tuple[int, int, int], api_key: str | None = None, **kwargs: Any
) -> Any:
    options = ClientOptions(api_endpoint=server.url, api_key=api_key)
    client = vision.ImageAnnotatorClient(
        credentials=None if api_key else AnonymousCredentials(),
        transport="rest",
        client_options=options,
    )
    request = vision.AnnotateImageRequest(
        image=vision.Image(content=solid_jpeg(colour)), features=[vision.Feature(type_=LABELS)]
    )
    return client.batch_annotate_images(requests=[request], **kwargs).responses[0]


def test_the_sensitivity_header_keeps_an_image_on_this_machine(routed: LiveServer) -> None:
    audit = AuditLog(routed.state.settings.home)
    before = len(audit.entries())
    sent = ask(routed, (250, 0, 0))
    kept = ask(routed, (0, 0, 250), metadata=[("x-localvision-sensitivity", "private")])
    assert sent.label_annotations[0].description == "red"
    assert kept.label_annotations[0].description == "blue"  # answered, locally
    new = audit.entries()[before:]
    assert [(r.provider, r.outcome) for r in new] == [
        ("google", "ok"),
        ("google", "refused: private (caller)"),
    ]
    assert new[0].bytes_sent > 0 and new[1].bytes_sent == 0


def test_a_private_api_key_keeps_every_image_local(routed: LiveServer) -> None:
    audit = AuditLog(routed.state.settings.home)
    before = len(audit.entries())
    kept = ask(routed, (250, 0, 0), api_key=PRIVATE_KEY)
    sent = ask(routed, (250, 0, 0), api_key="another-team")
    assert kept.label_annotations[0].description == sent.label_annotations[0].description == "red"
    new = audit.entries()[before:]
    assert [r.outcome for r in new] == ["refused: private (caller)", "ok"]
    assert [r.key_id for r in new] == [hash_key(PRIVATE_KEY), hash_key("another-team")]


def test_a_private_aws_access_key_keeps_images_local(routed: LiveServer) -> None:
    boto3 = pytest.importorskip("boto3", reason="boto3 is a dev extra")
    from botocore.config import Config

    audit = AuditLog(routed.state.settings.home)
    before = len(audit.entries())
    for key_id in ("AKIDPRIVATE", "AKIDOTHER"):
        client = boto3.client(
            "rekognition",
            endpoint_url=routed.url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key="s",
            config=Config(connect_timeout=CLIENT_TIMEOUT_S, read_timeout=CLIENT_TIMEOUT_S),
        )
        labels = client.detect_labels(Image={"Bytes": solid_jpeg((250, 0, 0))})["Labels"]
        assert labels[0]["Name"] == "red"
    new = audit.entries()[before:]
    assert [r.outcome for r in new] == ["refused: private (caller)", "ok"]
    assert [r.key_id for r in new] == ["AKIDPRIVATE", "AKIDOTHER"]  # ids, not secrets


def test_routes_that_need_egress_fail_at_start_up(
    colour_model_path: Path, colour_server: LiveServer, tmp_path: Path
) -> None:
    state = ServerState(routed_settings(tmp_path, colour_model_path, colour_server.url, "deny"))
    with pytest.raises(EgressDeniedError, match="egress is denied"):
        state.start()
    assert not state.ready and not state.models


def test_with_egress_denied_nothing_connects_beyond_loopback(
    colour_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole request cycle against a default (egress denied) server, with every outbound
    connection in this process watched."""
    import httpx

    destinations: list[str] = []
    original = socket.socket.connect

    def watched(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            destinations.append(str(address[0]))
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", watched)
    assert ask(colour_server, (250, 0, 0)).label_annotations[0].description == "red"
    hostile = httpx.post(
        colour_server.url + "/v1/images:annotate",
        json={
            "requests": [
                {
                    "image": {"source": {"imageUri": "http://169.254.169.254/latest/meta-data"}},
                    "features": [{"type": "LABEL_DETECTION"}],
                }
            ]
        },
        timeout=CLIENT_TIMEOUT_S,
    )
    assert hostile.status_code == 200 and "error" in hostile.json()["responses"][0]
    assert destinations and all(ipaddress.ip_address(d).is_loopback for d in destinations)


def test_local_only_overrides_the_router(
    colour_model_path: Path, colour_server: LiveServer, tmp_path: Path
) -> None:
    from localvision.cli.serve import _server_settings

    configured = routed_settings(tmp_path, colour_model_path, colour_server.url, "allow")
    settings = _server_settings(configured, None, None, None, None, {}, False, local_only=True)
    assert settings.cloud.egress == "deny" and not settings.cloud.router.routes
    state = ServerState(settings)
    state.start()
    try:
        assert state.ready and state.router is None  # answers come from the batcher, locally
    finally:
        state.close()
