"""Authentication: API keys for every route but the AWS one, SigV4 for the AWS route.

With nothing configured, every caller is accepted, and ``localvision serve`` refuses to
listen beyond loopback unless started with ``--insecure``. What each path needs is decided in
one place, the gate in front of every route (``gate.py``); this module says how to check it.

* API keys are configured only as hashes (``server.api_keys = ["sha256:<hex>"]``; make one
  with ``localvision keys hash``). Callers send the key as ``x-goog-api-key``, ``?key=`` (as
  Google's clients do) or ``Authorization: Bearer``.
* SigV4 is verified with botocore's own signer (``server.aws_credentials = {AKID = "secret"}``):
  the signature over the signed headers, the credential scope's date, region
  (``server.aws_region``) and service, the payload hash, and a clock skew of at most 15
  minutes. ``X-Amz-Content-Sha256: UNSIGNED-PAYLOAD`` leaves the body out of the signature, so
  a captured request could be replayed with another body: it is refused unless
  ``server.allow_unsigned_payload`` is set. Secrets are never logged.

Everything that needs no body (:func:`check_sigv4_headers`) is also what the server's gate
checks before a body is read; :func:`verify_sigv4` adds the payload hash and the signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from ..config import Settings
from ..errors import AuthenticationError
from ..optional import import_optional

__all__ = [
    "SigV4Scope",
    "check_api_key",
    "check_sigv4_headers",
    "hash_key",
    "key_accepted",
    "key_in",
    "missing_credentials",
    "offered_key",
    "verify_sigv4",
]

MAX_SKEW = dt.timedelta(minutes=15)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_AUTH_PATTERN = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


def hash_key(key: str) -> str:
    """The form an API key is configured in: ``sha256:<hex digest>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def offered_key(request: HTTPConnection) -> str | None:
    """The API key an HTTP request carries (see :func:`key_in`)."""
    return key_in(request.headers, request.query_params)


def key_in(headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> str | None:
    """The API key in request headers (HTTP headers or gRPC metadata, lower-case names):
    ``x-goog-api-key``, ``?key=`` or ``Authorization: Bearer``; for the Rekognition route, the
    SigV4 access key id. One function for both transports, so they accept the same forms."""
    key = headers.get("x-goog-api-key") or (query.get("key") if query is not None else None)
    bearer = headers.get("authorization", "")
    if not key and bearer.lower().startswith("bearer "):
        key = bearer[7:].strip()
    if not key and bearer.startswith("AWS4-HMAC-SHA256") and "Credential=" in bearer:
        key = bearer.split("Credential=", 1)[1].split("/", 1)[0].strip()
    return key or None


def check_api_key(request: HTTPConnection, settings: Settings) -> None:
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


@dataclass(frozen=True)
class SigV4Scope:
    """What a SigV4 ``Authorization`` header says, once checked against the server's settings
    (the secret is the one configured for its access key; it never appears in a repr)."""

    access_key: str
    secret: str = field(repr=False)
    region: str
    amz_date: str
    signed: tuple[str, ...]
    signature: str


def check_sigv4_headers(
    headers: Mapping[str, str],
    *,
    credentials: Mapping[str, str],
    region: str,
    allow_unsigned_payload: bool,
    now: dt.datetime | None = None,
) -> SigV4Scope:
    """Check everything about a SigV4 request that needs no body: the header's form, a known
    access key, the date and clock skew, the credential scope (date, ``region``, service) and
    the payload policy (``UNSIGNED-PAYLOAD`` only when ``allow_unsigned_payload``).

    Raises :class:`AuthenticationError` whose ``code`` picks Rekognition's exception."""
    match = _AUTH_PATTERN.fullmatch(headers.get("authorization", "").strip())
    if match is None:
        raise _auth_error("missing_authentication", "Missing or malformed SigV4 Authorization.")
    access_key, scope_date, scope_region, service, terminal = _scope(match["credential"])
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
    if scope_region != region:
        raise _auth_error(
            "invalid_signature",
            f"Credential should be scoped to a valid region: this server's region is "
            f"{region!r}, the credential names {scope_region!r}.",
        )
    if headers.get("x-amz-content-sha256") == UNSIGNED_PAYLOAD and not allow_unsigned_payload:
        raise _auth_error(
            "invalid_signature",
            "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD is not accepted: the signature must cover "
            "the body.",
        )
    signed = tuple(match["signed"].split(";"))
    if "host" not in signed:
        raise _auth_error("invalid_signature", "The host header must be signed.")
    return SigV4Scope(access_key, secret, scope_region, amz_date, signed, match["signature"])


def verify_sigv4(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    region: str,
    allow_unsigned_payload: bool,
    now: dt.datetime | None = None,
) -> str:
    """Check an AWS Signature Version 4 request; return the caller's access key id.

    ``region`` is the one credential scopes must name (``server.aws_region``); with
    ``allow_unsigned_payload`` false, a request whose payload hash is ``UNSIGNED-PAYLOAD``
    is refused, since its signature would not cover the body."""
    scope = check_sigv4_headers(
        headers,
        credentials=credentials,
        region=region,
        allow_unsigned_payload=allow_unsigned_payload,
        now=now,
    )
    declared = headers.get("x-amz-content-sha256")
    if (
        declared
        and declared != UNSIGNED_PAYLOAD
        and not hmac.compare_digest(declared, hashlib.sha256(body).hexdigest())
    ):
        raise _auth_error("invalid_signature", "The payload hash does not match the body.")
    expected = _signature(method, url, headers, body, scope)
    if not hmac.compare_digest(expected, scope.signature):
        raise _auth_error(
            "invalid_signature",
            "The request signature we calculated does not match the signature you provided.",
        )
    return scope.access_key


def _scope(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise _auth_error("invalid_signature", "The Credential scope is malformed.")
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _signature(
    method: str, url: str, headers: Mapping[str, str], body: bytes, scope: SigV4Scope
) -> str:
    auth = import_optional("botocore.auth", extra="aws", purpose="verify AWS signatures")
    awsrequest = import_optional(
        "botocore.awsrequest", extra="aws", purpose="verify AWS signatures"
    )
    botocredentials = import_optional(
        "botocore.credentials", extra="aws", purpose="verify AWS signatures"
    )
    only_signed = {name: headers[name] for name in scope.signed if name in headers}
    request = awsrequest.AWSRequest(method=method, url=url, headers=only_signed, data=body)
    request.context["timestamp"] = scope.amz_date
    credentials = botocredentials.Credentials(scope.access_key, scope.secret)
    signer = auth.SigV4Auth(credentials, "rekognition", scope.region)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    return str(signer.signature(string_to_sign, request))


def missing_credentials(message: str) -> AuthenticationError:
    """The refusal of a request that carries no credentials at all (Rekognition's
    ``MissingAuthenticationTokenException``, 403; 401 in the other protocols)."""
    return _auth_error("missing_authentication", message)


def _auth_error(code: str, message: str) -> AuthenticationError:
    error = AuthenticationError(message)
    error.code = code
    return error
