"""Authentication: API keys for the Google and native routes, SigV4 for the AWS route.

With nothing configured, every caller is accepted, and ``localvision serve`` refuses to
listen beyond loopback unless started with ``--insecure``.

* API keys are configured only as hashes (``server.api_keys = ["sha256:<hex>"]``; make one
  with ``localvision keys hash``). Callers send the key as ``x-goog-api-key``, ``?key=`` (as
  Google's clients do) or ``Authorization: Bearer``.
* SigV4 is verified with botocore's own signer (``server.aws_credentials = {AKID = "secret"}``):
  the signature over the signed headers, the credential scope's date and service, the
  payload hash, and a clock skew of at most 15 minutes. Secrets are never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping

from starlette.requests import Request

from ..config import Settings
from ..errors import AuthenticationError
from ..optional import import_optional

__all__ = ["check_api_key", "hash_key", "key_accepted", "verify_sigv4"]

MAX_SKEW = dt.timedelta(minutes=15)
_AUTH_PATTERN = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


def hash_key(key: str) -> str:
    """The form an API key is configured in: ``sha256:<hex digest>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def offered_key(request: Request) -> str | None:
    """The API key a request carries: ``x-goog-api-key``, ``?key=`` or a bearer token; for
    the Rekognition route, the SigV4 access key id."""
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    bearer = request.headers.get("authorization", "")
    if not key and bearer.lower().startswith("bearer "):
        key = bearer[7:].strip()
    if not key and bearer.startswith("AWS4-HMAC-SHA256") and "Credential=" in bearer:
        key = bearer.split("Credential=", 1)[1].split("/", 1)[0].strip()
    return key or None


def check_api_key(request: Request, settings: Settings) -> None:
    """Accept the request when no keys are configured or it carries a configured key."""
    if not settings.server.api_keys:
        return
    key = offered_key(request)
    if not key:
        raise AuthenticationError(
            "The request has no API key.",
            hint="Send it as the x-goog-api-key header or the key query parameter.",
        )
    if not key_accepted(key, settings):
        raise AuthenticationError("The API key is not valid.")


def key_accepted(key: str | None, settings: Settings) -> bool:
    """True when no keys are configured, or ``key`` hashes to a configured one."""
    accepted = settings.server.api_keys
    if not accepted:
        return True
    if not key:
        return False
    offered = hash_key(key)
    return any(hmac.compare_digest(offered, known) for known in accepted)


def verify_sigv4(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    now: dt.datetime | None = None,
) -> str:
    """Check an AWS Signature Version 4 request; return the caller's access key id."""
    match = _AUTH_PATTERN.fullmatch(headers.get("authorization", "").strip())
    if match is None:
        raise _auth_error("missing_authentication", "Missing or malformed SigV4 Authorization.")
    access_key, scope_date, region, service, terminal = _scope(match["credential"])
    secret = credentials.get(access_key)
    if secret is None:
        raise AuthenticationError("The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    try:
        stamp = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise _auth_error("invalid_signature", "X-Amz-Date is missing or malformed.") from None
    current = now or dt.datetime.now(dt.UTC)
    if abs(current - stamp) > MAX_SKEW:
        raise _auth_error(
            "expired_signature",
            f"Signature expired: {amz_date} is more than 15 minutes from the server's time.",
        )
    if scope_date != amz_date[:8] or service != "rekognition" or terminal != "aws4_request":
        raise _auth_error("invalid_signature", "The credential scope does not match the request.")
    declared = headers.get("x-amz-content-sha256")
    if (
        declared
        and declared != "UNSIGNED-PAYLOAD"
        and not hmac.compare_digest(declared, hashlib.sha256(body).hexdigest())
    ):
        raise _auth_error("invalid_signature", "The payload hash does not match the body.")
    signed = match["signed"].split(";")
    if "host" not in signed:
        raise _auth_error("invalid_signature", "The host header must be signed.")
    expected = _signature(method, url, headers, body, signed, amz_date, access_key, secret, region)
    if not hmac.compare_digest(expected, match["signature"]):
        raise _auth_error(
            "invalid_signature",
            "The request signature we calculated does not match the signature you provided.",
        )
    return access_key


def _scope(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise _auth_error("invalid_signature", "The Credential scope is malformed.")
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _signature(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    signed: list[str],
    amz_date: str,
    access_key: str,
    secret: str,
    region: str,
) -> str:
    auth = import_optional("botocore.auth", extra="aws", purpose="verify AWS signatures")
    awsrequest = import_optional(
        "botocore.awsrequest", extra="aws", purpose="verify AWS signatures"
    )
    botocredentials = import_optional(
        "botocore.credentials", extra="aws", purpose="verify AWS signatures"
    )
    only_signed = {name: headers[name] for name in signed if name in headers}
    request = awsrequest.AWSRequest(method=method, url=url, headers=only_signed, data=body)
    request.context["timestamp"] = amz_date
    signer = auth.SigV4Auth(botocredentials.Credentials(access_key, secret), "rekognition", region)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    return str(signer.signature(string_to_sign, request))


def _auth_error(code: str, message: str) -> AuthenticationError:
    error = AuthenticationError(message)
    error.code = code
    return error
