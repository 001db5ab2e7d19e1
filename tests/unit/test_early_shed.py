"""Which requests the early shed may refuse, and when an early answer closes the connection."""

from __future__ import annotations

import pytest

from localvision.server.early_shed import inference_protocol
from localvision.server.read_deadline import DRAIN_LIMIT, closes_unread


@pytest.mark.parametrize(
    ("method", "path", "protocol"),
    [
        ("POST", "/v1/images:annotate", "google"),
        ("POST", "/v1/projects/p/images:annotate", "google"),
        ("POST", "/v1/projects/p/locations/eu/images:annotate", "google"),
        ("POST", "/", "aws"),
        ("POST", "/v2/models/pets/infer", "oip"),
        ("POST", "/v2/models/pets/versions/3/infer", "oip"),
        ("POST", "/v1/annotate", "native"),
        # nothing that does not queue images: these keep their own answers when full
        ("POST", "/v1/files:annotate", None),
        ("POST", "/v1/images:asyncBatchAnnotate", None),
        ("GET", "/v1/images:annotate", None),
        ("GET", "/v2/models/pets", None),
        ("GET", "/v2/health/ready", None),
        ("GET", "/healthz", None),
        ("GET", "/v1/models", None),
        ("POST", "/console/login", None),
        ("POST", "/v1/annotate/extra", None),
    ],
)
def test_only_requests_that_queue_images_are_shed_early(
    method: str, path: str, protocol: str | None
) -> None:
    assert inference_protocol(path, method) == protocol


def scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"type": "http", "headers": list(headers)}


def test_small_unread_bodies_keep_the_connection_and_large_or_chunked_ones_close_it() -> None:
    assert not closes_unread(scope())
    assert not closes_unread(scope((b"content-length", b"5000")))
    assert not closes_unread(scope((b"content-length", str(DRAIN_LIMIT).encode())))
    assert closes_unread(scope((b"content-length", str(DRAIN_LIMIT + 1).encode())))
    assert closes_unread(scope((b"transfer-encoding", b"chunked")))
    assert closes_unread(scope((b"content-length", b"nonsense")))
    # A client waiting for "100 Continue" (never sent) may hold its body back: the next request
    # on the connection would be read as that body.
    assert closes_unread(scope((b"content-length", b"5000"), (b"expect", b"100-continue")))
    assert closes_unread(scope((b"Expect", b"100-Continue"), (b"content-length", b"10")))
