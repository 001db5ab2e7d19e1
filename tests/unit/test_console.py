"""The web console's parts that need no browser: sessions, promotions that check what the page
saw, the audit filter, latency quantiles from histogram buckets, and the snippets."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram

from localvision.config import Settings
from localvision.console.audit_view import AuditFilter
from localvision.console.metrics_view import quantile, summarise_metrics
from localvision.console.promotions import Promotions
from localvision.console.sessions import Sessions
from localvision.console.snippets import Access, snippets
from localvision.console.throttle import LoginThrottle
from localvision.errors import InvalidParameterError
from localvision.registry import Registry
from localvision.types import Feature


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_lives_for_its_lifetime_then_is_known_as_expired() -> None:
    clock = Clock()
    sessions = Sessions(lambda: 60.0, clock=clock)
    token, session = sessions.start("sha256:abc", read_only=True)
    assert sessions.find(token) is session and session.read_only
    assert "abc" not in token  # the cookie is random, not the key's id
    clock.now += 59
    assert sessions.find(token) is session
    clock.now += 2
    assert sessions.find(token) is None and sessions.expired(token)
    assert not sessions.expired("never-issued")


def test_logging_out_ends_the_session_and_csrf_tokens_are_per_session() -> None:
    sessions = Sessions(lambda: 60.0, clock=Clock())
    token, session = sessions.start(None, read_only=False)
    _, other = sessions.start(None, read_only=False)
    assert session.csrf != other.csrf
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(other.csrf) and not session.csrf_matches(None)
    sessions.end(token)
    assert sessions.find(token) is None and not sessions.expired(token)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"not loaded by these tests")
    registry = Registry(tmp_path / "home")
    for _ in range(3):
        registry.add("pets", artifact, format_name="onnx")
    registry.set_alias("pets", 1, "production")
    return registry


def promotions(tmp_path: Path) -> Promotions:
    settings = Settings(home=tmp_path / "home")
    return Promotions(lambda: settings)


def test_a_promotion_happens_only_where_the_page_saw_the_alias(
    registry: Registry, tmp_path: Path
) -> None:
    moves = promotions(tmp_path)
    done = moves.promote("pets@2", "production", seen={"production": 1})
    assert done.ok and registry.get("pets@production").version == 2
    stale = moves.promote("pets@3", "production", seen={"production": 1})
    assert not stale.ok and stale.status == 409
    assert "it showed version 1, it is version 2 now" in stale.message
    assert registry.get("pets@production").version == 2
    fresh = moves.promote("pets@3", "staging", seen={"production": 2})  # no staging yet: none
    assert fresh.ok and registry.get("pets@staging").version == 3


def test_of_many_simultaneous_promotions_exactly_one_wins(
    registry: Registry, tmp_path: Path
) -> None:
    moves = promotions(tmp_path)
    outcomes = []
    start = threading.Barrier(6)

    def promote(version: int) -> None:
        start.wait()
        outcomes.append(moves.promote(f"pets@{version}", "production", seen={"production": 1}))

    threads = [threading.Thread(target=promote, args=(2 + i % 2,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.ok for o in outcomes) == 1
    assert all(o.status == 409 for o in outcomes if not o.ok)


def test_rollback_checks_the_alias_too_and_reports_registry_errors(
    registry: Registry, tmp_path: Path
) -> None:
    moves = promotions(tmp_path)
    assert moves.promote("pets@3", "production", seen={"production": 1}).ok
    assert not moves.rollback("pets", "production", seen={"production": 1}).ok
    back = moves.rollback("pets", "production", seen={"production": 3})
    assert back.ok and registry.get("pets@production").version == 1
    nothing = moves.rollback("pets", "production", seen={"production": 1})
    assert not nothing.ok and "no earlier version" in nothing.message
    missing = moves.promote("cats@1", "production", seen={})
    assert not missing.ok and missing.status == 404
    gated = moves.promote("pets@2", "production", seen={"production": 1}, gate="accuracy > 0.5")
    assert not gated.ok and "holdout data" in gated.message
    assert registry.get("pets@production").version == 1


def test_the_audit_filter_reads_the_query_and_refuses_bad_dates() -> None:
    wanted = AuditFilter.from_query({"provider": "google", "outcome": "refused", "since": ""})
    assert wanted.provider == "google" and wanted.start == 0.0
    assert AuditFilter.from_query({"since": "2025-01-31"}).start == 1738281600.0
    with pytest.raises(InvalidParameterError, match="YYYY-MM-DD"):
        AuditFilter.from_query({"until": "31/01/2025"})
    with pytest.raises(InvalidParameterError, match="outcome"):
        AuditFilter.from_query({"outcome": "maybe"})


def test_latency_quantiles_come_from_the_histogram_buckets() -> None:
    buckets = [(0.1, 10.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert quantile(buckets, 0.5) == pytest.approx(0.3)  # rank 50, halfway through 0.1..0.5
    assert quantile(buckets, 0.95) == pytest.approx(0.75)
    assert quantile([], 0.5) == 0.0
    assert quantile([(0.1, 0.0), (float("inf"), 5.0)], 0.5) == 0.1  # past the last bound
    registry = CollectorRegistry()
    latency = Histogram(
        "localvision_request_duration_seconds",
        "latency",
        ["protocol", "operation"],
        buckets=(0.1, 1.0),
        registry=registry,
    )
    for seconds in (0.05, 0.05, 0.5):
        latency.labels("google", "annotate").observe(seconds)
    (row,) = summarise_metrics(registry).latency
    assert (row.protocol, row.operation, row.count) == ("google", "annotate", 3)
    assert row.mean_ms == pytest.approx(200.0)


def test_snippets_are_valid_python_and_shell_whatever_the_file_is_called() -> None:
    access = Access("http://127.0.0.1:8080/", api_key=True, sigv4=False, region="us-east-1")
    name = "it's a $(rm -rf) photo.jpg"
    made = snippets(access, name, [Feature.LABELS, Feature.FACES, Feature.CROP_HINTS])
    for protocol, pair in made.items():
        compile(pair["python"], f"<{protocol} snippet>", "exec")
        assert "$(rm" not in shlex.split(pair["curl"].replace("\n", " "))  # quoted, never run
        assert "$LOCALVISION_API_KEY" in pair["curl"]
        assert "LOCALVISION_API_KEY" in pair["python"]
    assert "FACE_DETECTION" in made["google"]["curl"] and "CROP_HINTS" in made["google"]["curl"]
    assert "RekognitionService.DetectFaces" in made["aws"]["curl"]
    signed = snippets(
        Access("http://h/", api_key=False, sigv4=True, region="eu-west-1"),
        "a.jpg",
        [Feature.CROP_HINTS],
    )
    assert signed["aws"]["curl"].startswith("# Rekognition has no operation for crop_hints")


def test_failed_logins_from_one_address_wait_until_the_window_passes() -> None:
    clock = Clock()
    throttle = LoginThrottle(limit=3, window_s=60.0, clock=clock)
    for _ in range(3):
        assert throttle.wait_s("10.0.0.1") == 0.0
        throttle.failed("10.0.0.1")
        clock.now += 1.0
    assert throttle.wait_s("10.0.0.1") == pytest.approx(57.0)  # the first failure, 60 s on
    assert throttle.wait_s("10.0.0.2") == 0.0  # another address is not held up
    clock.now += 57.0
    assert throttle.wait_s("10.0.0.1") == 0.0
