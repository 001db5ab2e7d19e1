"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from localvision.errors import AuthenticationError
from localvision.server.auth import check_sigv4_headers, verify_sigv4

botocore = pytest.importorskip("botocore", reason="botocore comes with boto3 (dev extra)")
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

URL = "http://127.0.0.1:8080/"
BODY = b'{"Image": {"Bytes": "AAAA"}}'
WHEN = dt.datetime(2026, 11, 26, 6, 0, 0, tzinfo=dt.UTC)
CREDENTIALS = {"AKID": "secret"}


def signed(
    secret: str = "secret",
    body: bytes = BODY,
    when: dt.datetime = WHEN,
    region: str = "us-east-1",
    payload_hash: str | None = None,
) -> dict[str, str]:
    """Headers botocore signs for ``body``; ``payload_hash`` sets (and signs)
    X-Amz-Content-Sha256, as S3-style clients do."""
    headers = {
        "X-Amz-Target": "RekognitionService.DetectLabels",
        "Content-Type": "application/x-amz-json-1.1",
    }
    if payload_hash is not None:
        headers["X-Amz-Content-Sha256"] = payload_hash
    request = AWSRequest("POST", URL, data=body, headers=headers)
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    signer = SigV4Auth(Credentials("AKID", secret), "rekognition", region)
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    scope = f"AKID/{when:%Y%m%d}/{region}/rekognition/aws4_request"
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:8080"
    names = signer.signed_headers(signer.headers_to_sign(request))
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}, Signature={signature}"
    )
    return headers


def verify(
    headers: dict[str, str],
    body: bytes = BODY,
    now: dt.datetime = WHEN,
    region: str = "us-east-1",
    allow_unsigned_payload: bool = False,
) -> str:
    return verify_sigv4(
        method="POST",
        url=URL,
        headers=headers,
        body=body,
        credentials=CREDENTIALS,
        region=region,
        allow_unsigned_payload=allow_unsigned_payload,
        now=now,
    )


def test_a_botocore_signature_verifies() -> None:
    assert verify(signed()) == "AKID"


def test_wrong_secret_tampered_body_and_header() -> None:
    with pytest.raises(AuthenticationError) as info:
        verify(signed(secret="other"))
    assert info.value.code == "invalid_signature"
    with pytest.raises(AuthenticationError, match="does not match"):
        verify(signed(), body=b'{"Image": {"Bytes": "BBBB"}}')
    headers = signed()
    headers["x-amz-target"] = "RekognitionService.DetectFaces"
    with pytest.raises(AuthenticationError, match="does not match"):
        verify(headers)


def test_clock_skew_beyond_fifteen_minutes_is_refused() -> None:
    assert verify(signed(), now=WHEN + dt.timedelta(minutes=14))
    with pytest.raises(AuthenticationError, match="expired") as info:
        verify(signed(), now=WHEN + dt.timedelta(minutes=16))
    assert info.value.code == "expired_signature"


def test_declared_payload_hash_must_match_the_body() -> None:
    headers = signed()
    headers["x-amz-content-sha256"] = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(AuthenticationError, match="payload hash"):
        verify(headers)


def test_unknown_key_and_missing_header() -> None:
    with pytest.raises(AuthenticationError, match="security token"):
        verify_sigv4(
            method="POST",
            url=URL,
            headers=signed(),
            body=BODY,
            credentials={},
            region="us-east-1",
            allow_unsigned_payload=False,
            now=WHEN,
        )
    with pytest.raises(AuthenticationError) as info:
        verify({})
    assert info.value.code == "missing_authentication"


OTHER_BODY = b'{"Image": {"Bytes": "BBBB"}}'


def test_an_unsigned_payload_cannot_be_replayed_with_another_body() -> None:
    headers = signed(payload_hash="UNSIGNED-PAYLOAD")
    with pytest.raises(AuthenticationError, match="UNSIGNED-PAYLOAD") as info:
        verify(headers, body=OTHER_BODY)
    assert info.value.code == "invalid_signature"
    with pytest.raises(AuthenticationError, match="UNSIGNED-PAYLOAD"):
        verify(headers)  # refused for its own body too: the signature never covered it
    assert verify(headers, body=OTHER_BODY, allow_unsigned_payload=True) == "AKID"  # opted in


def test_a_signed_payload_hash_header_is_accepted() -> None:
    headers = signed(payload_hash=hashlib.sha256(BODY).hexdigest())
    assert verify(headers) == "AKID"
    with pytest.raises(AuthenticationError, match="payload hash"):
        verify(headers, body=OTHER_BODY)


def test_the_credential_scope_must_name_the_configured_region() -> None:
    with pytest.raises(AuthenticationError, match="valid region") as info:
        verify(signed(region="eu-west-1"))
    assert info.value.code == "invalid_signature"
    assert verify(signed(region="eu-west-1"), region="eu-west-1") == "AKID"
    with pytest.raises(AuthenticationError, match="valid region"):
        verify(signed(), region="eu-west-1")


def test_the_header_checks_need_no_body() -> None:
    scope = check_sigv4_headers(
        signed(),
        credentials=CREDENTIALS,
        region="us-east-1",
        allow_unsigned_payload=False,
        now=WHEN,
    )
    assert (scope.access_key, scope.region) == ("AKID", "us-east-1")
    assert "secret" not in repr(scope)
