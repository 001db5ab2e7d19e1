"""The Google Cloud Vision provider, pointed at localvision's own Google-compatible server."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from localvision.cloud.audit import AuditLog
from localvision.config import CloudSettings, GoogleProviderSettings, Settings
from localvision.errors import (
    EgressDeniedError,
    FeatureNotAvailableError,
    InvalidInputError,
    ProviderError,
)
from localvision.types import AnnotateRequest, Feature, FeatureRequest

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer

pytest.importorskip("httpx", reason="the cloud extra calls providers")
from localvision.cloud.providers.google import GoogleVisionProvider, redacted_jpeg


def allowed(home: Path, endpoint: str, retries: int = 2) -> Settings:
    return Settings(
        home=home,
        cloud=CloudSettings(
            egress="allow",
            google=GoogleProviderSettings(
                api_key="k", endpoint=endpoint, retries=retries, timeout_s=CLIENT_TIMEOUT_S
            ),
        ),
    )


def test_egress_is_denied_by_default(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, cloud=CloudSettings(google=GoogleProviderSettings(api_key="k"))
    )
    with pytest.raises(EgressDeniedError, match="egress is denied"):
        GoogleVisionProvider(settings)


def test_answers_match_the_local_server_and_every_call_is_audited(
    colour_server: LiveServer, tmp_path: Path
) -> None:
    provider = GoogleVisionProvider(allowed(tmp_path, colour_server.url))
    requests = [
        AnnotateRequest(
            solid_jpeg((250, 0, 0)),
            [FeatureRequest(Feature.LABELS, max_results=2), FeatureRequest(Feature.COLORS)],
            name="red",
        ),
        AnnotateRequest(b"not an image", [FeatureRequest(Feature.LABELS)], name="bad"),
        AnnotateRequest(
            solid_jpeg((0, 0, 250)),
            [FeatureRequest(Feature.LABELS, max_results=2), FeatureRequest(Feature.COLORS)],
            name="blue",
        ),
    ]
    red, bad, blue = provider.annotate(requests)
    provider.close()
    assert [label.name for label in red.labels or []] == ["red", "gray"]
    assert blue.labels and blue.labels[0].name == "blue"
    assert red.colors and red.colors[0].red > 240 and red.colors[0].pixel_fraction == 1.0
    assert bad.error is not None and bad.labels is None  # refused before leaving the machine
    (record,) = AuditLog(tmp_path).entries()
    assert record.provider == "google" and record.images == 2 and record.outcome == "ok"
    assert len(record.sha256) == 2 and record.bytes_sent > 0


def test_per_image_errors_keep_the_vendors_words(colour_server: LiveServer, tmp_path: Path) -> None:
    provider = GoogleVisionProvider(allowed(tmp_path, colour_server.url))
    (result,) = provider.annotate(
        [AnnotateRequest(solid_jpeg((1, 2, 3)), [FeatureRequest(Feature.OBJECTS)])]
    )
    provider.close()
    assert isinstance(result.error, FeatureNotAvailableError)
    assert result.error.message.startswith("Google Cloud Vision:")


def test_metadata_never_leaves() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "taken at home, 12 Example Street"  # a description that must not leave
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(buffer, "JPEG", exif=exif)
    with Image.open(buffer) as original:
        assert original.getexif()
        stripped = redacted_jpeg(original.convert("RGB"))
    with Image.open(io.BytesIO(stripped)) as sent:
        assert not sent.getexif() and "exif" not in sent.info


class Flaky(BaseHTTPRequestHandler):
    plan: list[tuple[int, dict]] = []
    hits = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        status, body = Flaky.plan[min(Flaky.hits, len(Flaky.plan) - 1)]
        Flaky.hits += 1
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def flaky() -> Iterator[str]:
    Flaky.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_retries_only_what_is_retryable(flaky: str, tmp_path: Path) -> None:
    ok = {"responses": [{"labelAnnotations": [{"description": "cat", "score": 0.9}]}]}
    Flaky.plan = [(503, {"error": {"message": "busy"}}), (200, ok)]
    provider = GoogleVisionProvider(allowed(tmp_path, flaky))
    (result,) = provider.annotate(
        [AnnotateRequest(solid_jpeg((9, 9, 9)), [FeatureRequest(Feature.LABELS)])]
    )
    assert result.labels and result.labels[0].name == "cat" and Flaky.hits == 2
    Flaky.hits = 0
    Flaky.plan = [
        (400, {"error": {"code": 400, "message": "Bad key", "status": "INVALID_ARGUMENT"}})
    ]
    (result,) = provider.annotate(
        [AnnotateRequest(solid_jpeg((9, 9, 9)), [FeatureRequest(Feature.LABELS)])]
    )
    provider.close()
    assert isinstance(result.error, InvalidInputError) and "Bad key" in result.error.message
    assert Flaky.hits == 1
    outcomes = [r.outcome for r in AuditLog(tmp_path).entries()]
    assert outcomes == ["ok", "InvalidInputError"]


def test_a_missing_response_fails_the_images_instead_of_dropping_them(
    flaky: str, tmp_path: Path
) -> None:
    one = {"responses": [{"labelAnnotations": [{"description": "cat", "score": 0.9}]}]}
    Flaky.plan = [(200, one)]
    provider = GoogleVisionProvider(allowed(tmp_path, flaky))
    requests = [
        AnnotateRequest(solid_jpeg((9, 9, 9)), [FeatureRequest(Feature.LABELS)], name=n)
        for n in ("a", "b")
    ]
    first, second = provider.annotate(requests)
    provider.close()
    for result in (first, second):
        assert isinstance(result.error, ProviderError) and result.labels is None
        assert "1 responses for 2 images" in result.error.message
    (record,) = AuditLog(tmp_path).entries()
    assert record.images == 2 and record.outcome == "ProviderError"


def test_a_malformed_answer_for_one_image_is_that_images_error(flaky: str, tmp_path: Path) -> None:
    broken = {"labelAnnotations": None}  # a list was due: reading it raised TypeError
    fine = {"labelAnnotations": [{"description": "cat", "score": 0.9}]}
    Flaky.plan = [(200, {"responses": [broken, fine]})]
    provider = GoogleVisionProvider(allowed(tmp_path, flaky))
    requests = [
        AnnotateRequest(solid_jpeg((9, 9, 9)), [FeatureRequest(Feature.LABELS)], name=n)
        for n in ("broken", "fine")
    ]
    first, second = provider.annotate(requests)
    provider.close()
    assert isinstance(first.error, ProviderError) and "cannot read" in first.error.message
    assert second.error is None and second.labels and second.labels[0].name == "cat"


def test_a_call_ended_by_a_foreign_exception_is_not_audited_as_ok(tmp_path: Path) -> None:
    from localvision.cloud.providers.base import audited

    log = AuditLog(tmp_path)
    with pytest.raises(RuntimeError), audited(log, "google", "e", ["labels"], [b"x"]):
        raise RuntimeError("the vendor's library broke")
    (record,) = log.entries()
    assert record.outcome == "RuntimeError" and record.images == 1


def test_audit_command_lists_what_left(colour_server: LiveServer, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from localvision.cli.app import app

    provider = GoogleVisionProvider(allowed(tmp_path, colour_server.url))
    provider.annotate([AnnotateRequest(solid_jpeg((250, 0, 0)), [FeatureRequest(Feature.LABELS)])])
    provider.close()
    result = CliRunner().invoke(app, ["audit", "--json"], env={"LOCALVISION_HOME": str(tmp_path)})
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["totals"]["google"]["images"] == 1
    assert report["records"][0]["features"] == ["labels"]
    empty = CliRunner().invoke(app, ["audit"], env={"LOCALVISION_HOME": str(tmp_path / "other")})
    assert "Nothing has left this machine." in empty.stdout


class OAuthGoogle(BaseHTTPRequestHandler):
    """A token endpoint that checks the service account's signed JWT, and a Vision endpoint
    that wants the token it issued."""

    public_key: object = None
    tokens_issued = 0
    seen_auth: list[str | None] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        import base64
        from urllib.parse import parse_qs

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/token":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            header, claims, signature = form["assertion"].split(".")

            def unb64(part: str) -> bytes:
                return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

            self.public_key.verify(  # type: ignore[attr-defined]
                unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            scope = json.loads(unb64(claims))["scope"]
            assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            assert scope == "https://www.googleapis.com/auth/cloud-vision"
            OAuthGoogle.tokens_issued += 1
            self._answer(
                200, {"access_token": "ya29.local", "expires_in": 3600, "token_type": "Bearer"}
            )
            return
        OAuthGoogle.seen_auth.append(self.headers.get("Authorization"))
        if self.headers.get("Authorization") != "Bearer ya29.local":
            self._answer(
                401, {"error": {"code": 401, "message": "no", "status": "UNAUTHENTICATED"}}
            )
            return
        self._answer(
            200, {"responses": [{"labelAnnotations": [{"description": "cat", "score": 0.9}]}]}
        )


def test_service_account_sign_in(tmp_path: Path) -> None:
    pytest.importorskip(
        "google.oauth2.service_account",
        reason="google-auth (the cloud extra) signs service-account tokens",
    )
    pytest.importorskip("cryptography", reason="signing a test service-account key")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    OAuthGoogle.public_key, OAuthGoogle.tokens_issued, OAuthGoogle.seen_auth = (
        key.public_key(),
        0,
        [],
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), OAuthGoogle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    account = tmp_path / "account.json"
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "local",
                "private_key_id": "1",
                "private_key": pem,
                "client_email": "vision@local.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{url}/token",
            }
        )
    )
    settings = Settings(
        home=tmp_path,
        cloud=CloudSettings(
            egress="allow",
            google=GoogleProviderSettings(credentials_file=str(account), endpoint=url, retries=0),
        ),
    )
    provider = GoogleVisionProvider(settings)
    request = AnnotateRequest(solid_jpeg((1, 2, 3)), [FeatureRequest(Feature.LABELS)])
    first, second = provider.annotate([request]), provider.annotate([request])
    provider.close()
    server.shutdown()
    assert first[0].labels and second[0].labels and first[0].labels[0].name == "cat"
    assert OAuthGoogle.tokens_issued == 1  # the token is reused until it nears expiry
    assert OAuthGoogle.seen_auth == ["Bearer ya29.local"] * 2


def test_google_needs_exactly_one_credential(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one"):
        GoogleProviderSettings()
    with pytest.raises(ValidationError, match="exactly one"):
        GoogleProviderSettings(api_key="k", credentials_file="x.json")
    missing = Settings(
        home=tmp_path,
        cloud=CloudSettings(
            egress="allow", google=GoogleProviderSettings(credentials_file=str(tmp_path / "no"))
        ),
    )
    from localvision.errors import ConfigError

    with pytest.raises(ConfigError, match="service account key"):
        GoogleVisionProvider(missing)
