"""The router's policies with the real local engine.

Fault injection (failing, budget-counting providers) uses :class:`Scripted`, which stands in
for the remote cloud and writes the audit records real providers write; one test routes
through the real Google provider to localvision's own server to show that a face photo never
leaves while a landscape does.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PIL import Image

from localvision.api import engine_for
from localvision.cloud.audit import AuditLog, EgressRecord
from localvision.cloud.prices import PriceEntry, Tier
from localvision.cloud.router import Router
from localvision.config import CloudSettings, GoogleProviderSettings, RouterSettings, Settings
from localvision.engine import LocalEngine
from localvision.errors import ConfigError, EgressDeniedError, ProviderError
from localvision.models import load_model
from localvision.types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest, Label

from ..conftest import solid_jpeg
from ..servers import LiveServer

LABELS = [FeatureRequest(Feature.LABELS)]


class Scripted:
    """A cloud provider whose answers the test decides; audits each call like a real one."""

    features = frozenset({Feature.LABELS})

    def __init__(self, name: str, audit: AuditLog, fail: bool = False) -> None:
        self.name, self.audit, self.fail, self.calls = name, audit, fail, 0
        self.images: list[object] = []
        self.answer = f"{name}-answer"

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        self.calls += 1
        self.images += [r.image for r in requests]
        self.audit.record(
            EgressRecord(
                time.time(), self.name, "test", ["labels"], 1, 10, ["x"],
                "ProviderError" if self.fail else "ok", 1.0,
            )
        )  # fmt: skip
        if self.fail:
            return [AnnotateResult(error=ProviderError(f"{self.name} is down"))]
        return [AnnotateResult(labels=[Label(self.answer, 0.9)])]

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def engine(colour_model_path: Path, settings: Settings) -> Iterator[LocalEngine]:
    with engine_for(
        {Feature.LABELS: load_model(colour_model_path, settings=settings)}, settings
    ) as e:
        yield e


def router_settings(home: Path, **router: object) -> Settings:
    return Settings(home=home, cloud=CloudSettings(router=RouterSettings(**router)))  # type: ignore[arg-type]


def test_routes_in_order_with_local_as_the_last_resort(engine: LocalEngine, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path)
    down, up = Scripted("down", audit, fail=True), Scripted("up", audit)
    settings = router_settings(
        tmp_path, routes={"labels": ["down", "up", "local"]}, privacy=["caller"], failures_to_cool=2
    )
    now = [1_000_000.0]
    router = Router(settings, engine, {"down": down, "up": up}, audit=audit, clock=lambda: now[0])
    request = AnnotateRequest(solid_jpeg((250, 0, 0)), [*LABELS, FeatureRequest(Feature.COLORS)])
    (result,) = router.annotate([request])
    assert result.labels and result.labels[0].name == "up-answer"
    assert result.colors and result.colors[0].red > 200  # colours have no route: local
    assert result.extra["routes"] == {"labels": "up", "colors": "local"}
    router.annotate([request])
    assert down.calls == 2  # two failures in a row: cooled down
    router.annotate([request])
    assert (down.calls, up.calls) == (2, 3)
    now[0] += 61
    router.annotate([request])
    assert down.calls == 3  # tried again after the cooldown
    up.fail = True
    (result,) = router.annotate([request])
    assert result.labels and result.labels[0].name == "red" and result.error is None


def test_caller_private_is_answered_locally_or_refused(engine: LocalEngine, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path)
    cloud = Scripted("cloud", audit)
    red = AnnotateRequest(solid_jpeg((250, 0, 0)), LABELS)
    local = Router(
        router_settings(tmp_path, routes={"labels": ["cloud"]}, privacy=["caller"]),
        engine, {"cloud": cloud}, audit=audit,
    )  # fmt: skip
    kept, sent = local.annotate([red, red], private=[True, False])
    assert kept.labels and kept.labels[0].name == "red" and kept.extra["private"] == ["caller"]
    assert sent.labels and sent.labels[0].name == "cloud-answer" and cloud.calls == 1
    refusing = Router(
        router_settings(
            tmp_path, routes={"labels": ["cloud"]}, privacy=["caller"], private="refuse"
        ),
        engine, {"cloud": cloud}, audit=audit,
    )  # fmt: skip
    (refused,) = refusing.annotate([red], private=[True])
    assert isinstance(refused.error, EgressDeniedError) and refused.labels is None
    assert cloud.calls == 1
    outcomes = [r.outcome for r in audit.entries()]
    assert outcomes == ["refused: private (caller)", "ok", "refused: private (caller)"]
    from typer.testing import CliRunner

    from localvision.cli.app import app

    env = {"LOCALVISION_HOME": str(tmp_path)}
    everything = json.loads(CliRunner().invoke(app, ["audit", "--json"], env=env).stdout)
    assert everything["totals"]["cloud"] == {
        "requests": 1, "images": 1, "bytes_sent": 10, "estimated_usd": 0.0, "refused": 2,
    }  # fmt: skip
    left = CliRunner().invoke(app, ["audit", "--left-only", "--json"], env=env).stdout
    assert [r["outcome"] for r in json.loads(left)["records"]] == ["ok"]


def test_gps_in_exif_keeps_an_image_local(engine: LocalEngine, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path)
    cloud = Scripted("cloud", audit)
    exif = Image.Exif()
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (0, 0, 250)).save(buffer, "JPEG", exif=exif)
    router = Router(
        router_settings(tmp_path, routes={"labels": ["cloud", "local"]}, privacy=["gps"]),
        engine, {"cloud": cloud}, audit=audit,
    )  # fmt: skip
    tagged, plain = router.annotate(
        [
            AnnotateRequest(buffer.getvalue(), LABELS),
            AnnotateRequest(solid_jpeg((0, 0, 250)), LABELS),
        ]
    )
    assert tagged.extra["routes"] == {"labels": "local"} and tagged.extra["private"] == ["gps"]
    assert plain.extra["routes"] == {"labels": "cloud"} and cloud.calls == 1


def test_budget_exhaustion_switches_to_local_at_the_right_request(
    engine: LocalEngine, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path)
    prices = [PriceEntry("cloud", "labels", 0, (Tier(None, 1.0),), "test", "2026-11-01")]
    settings = router_settings(
        tmp_path, routes={"labels": ["cloud", "local"]}, privacy=[], budgets={"cloud": 0.0025}
    )
    cloud = Scripted("cloud", audit)
    router = Router(settings, engine, {"cloud": cloud}, audit=audit, prices=prices)
    red = AnnotateRequest(solid_jpeg((250, 0, 0)), LABELS)
    routes = [r.extra["routes"]["labels"] for r in router.annotate([red] * 4)]
    assert routes == ["cloud", "cloud", "local", "local"]  # $0.001 each, $0.0025 cap
    costs = [r.cost_usd for r in audit.entries() if not r.refused]
    assert costs == pytest.approx([0.001, 0.001])  # each record carries the router's estimate
    assert router.spent("cloud") == pytest.approx(0.002)
    again = Router(settings, engine, {"cloud": cloud}, audit=audit, prices=prices)
    assert again.spent("cloud") == pytest.approx(0.002)  # spend is read back from the audit log
    assert [r.extra["routes"]["labels"] for r in again.annotate([red])] == ["local"]
    refusing = Router(
        router_settings(
            tmp_path, routes={"labels": ["cloud"]}, privacy=[], budgets={"cloud": 0.0025},
            over_budget="refuse",
        ),
        engine, {"cloud": cloud}, audit=audit, prices=prices,
    )  # fmt: skip
    (refused,) = refusing.annotate([red])
    assert isinstance(refused.error, EgressDeniedError) and "budget" in refused.error.message
    assert cloud.calls == 2


@pytest.mark.parametrize(
    ("router", "message"),
    [
        ({"routes": {"labels": ["nowhere"]}}, "unknown providers"),
        ({"routes": {"labels": ["local", "cloud"]}}, "put it last"),
        ({"routes": {"labels": ["cloud", "cloud"]}}, "each route once"),
        ({"routes": {"smell": ["cloud"]}}, "Unknown feature"),
        ({"budgets": {"cloud": 5}}, "no route uses"),
        ({"privacy": ["telepathy"]}, "Unknown privacy checks"),
        ({"patterns": ["(unclosed"]}, "does not compile"),
        ({"routes": {"labels": ["cloud"]}, "redact": {"cloud": ["licence plates"]}}, "cannot be"),
        ({"redact": {"cloud": ["faces"]}}, "no route uses"),
        ({"burst": "local"}, "must name a cloud provider"),
    ],
)
def test_contradictory_config_fails_at_start_up(
    engine: LocalEngine, tmp_path: Path, router: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Router(
            router_settings(tmp_path, **router),
            engine,
            {"cloud": Scripted("cloud", AuditLog(tmp_path))},
        )


def test_a_face_photo_never_leaves_while_a_landscape_does(
    engine: LocalEngine, colour_server: LiveServer, photos_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("cv2", reason="the faces extra (OpenCV) detects faces")
    pytest.importorskip("rapidocr", reason="the ocr extra reads text")
    pytest.importorskip("httpx", reason="the cloud extra calls providers")
    settings = Settings(
        home=tmp_path,
        cloud=CloudSettings(
            egress="allow",
            google=GoogleProviderSettings(api_key="k", endpoint=colour_server.url, retries=0),
            router=RouterSettings(routes={"labels": ["google", "local"]}),
        ),
    )
    router = Router(settings, engine)  # opens the real Google provider
    face, landscape = router.annotate(
        [
            AnnotateRequest(photos_dir / "face.jpg", LABELS, name="face"),
            AnnotateRequest(photos_dir / "bird.bmp", LABELS, name="bird"),
        ]
    )
    router.close()
    assert face.extra["routes"] == {"labels": "local"} and "faces" in face.extra["private"]
    assert landscape.extra["routes"] == {"labels": "google"} and landscape.extra["private"] == []
    assert face.labels and landscape.labels
    records = AuditLog(tmp_path).entries()
    sent = [r for r in records if r.bytes_sent > 0]
    assert len(sent) == 1 and sent[0].images == 1 and sent[0].outcome == "ok"
    refused = [r for r in records if r.outcome.startswith("refused")]
    assert [r.provider for r in refused] == ["google"] and "faces" in refused[0].outcome


def test_personal_data_read_by_local_ocr_keeps_an_image_local(
    engine: LocalEngine, tmp_path: Path
) -> None:
    pytest.importorskip("rapidocr", reason="the ocr extra reads text")
    from PIL import ImageDraw, ImageFont

    def page(line: str) -> bytes:
        image = Image.new("RGB", (900, 140), "white")
        font = ImageFont.load_default(size=48)
        ImageDraw.Draw(image).text((20, 40), line, fill="black", font=font)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue()

    audit = AuditLog(tmp_path)
    cloud = Scripted("cloud", audit)
    router = Router(
        router_settings(tmp_path, routes={"labels": ["cloud", "local"]}, privacy=["text"]),
        engine, {"cloud": cloud}, audit=audit,
    )  # fmt: skip
    card, menu = router.annotate(
        [
            AnnotateRequest(page("Card 4111 1111 1111 1111"), LABELS),
            AnnotateRequest(page("Soup of the day"), LABELS),
        ]
    )
    assert card.extra["private"] == ["text:card"] and card.extra["routes"]["labels"] == "local"
    assert menu.extra["private"] == [] and menu.extra["routes"]["labels"] == "cloud"


def test_faces_are_blurred_before_they_leave_when_a_route_asks(
    engine: LocalEngine, photos_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("cv2", reason="the faces extra (OpenCV) detects faces")
    audit = AuditLog(tmp_path)
    cloud = Scripted("cloud", audit)
    router = Router(
        router_settings(
            tmp_path, routes={"labels": ["cloud"]}, privacy=["caller"], redact={"cloud": ["faces"]}
        ),
        engine, {"cloud": cloud}, audit=audit,
    )  # fmt: skip
    photo = photos_dir / "face.jpg"
    (original,) = engine.annotate([AnnotateRequest(photo, [FeatureRequest(Feature.FACES)])])
    assert original.faces  # the detector sees the face before redaction
    (result,) = router.annotate([AnnotateRequest(photo, LABELS)])
    assert result.extra["redacted"] == [f"faces:{len(original.faces)}"]
    (sent,) = cloud.images
    assert isinstance(sent, Image.Image) and sent.size == (original.width, original.height)
    (after,) = engine.annotate([AnnotateRequest(sent, [FeatureRequest(Feature.FACES)])])
    assert after.faces == []  # nobody to recognise in what left
    (sent_record,) = audit.entries()
    assert sent_record.redactions == result.extra["redacted"]  # the audit says what was blurred


def test_shadow_records_agreement_without_changing_answers(
    engine: LocalEngine, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path)
    cloud = Scripted("cloud", audit)
    cloud.answer = "red"  # agrees with the local model on red, not on blue
    router = Router(
        router_settings(tmp_path, privacy=["caller"], shadow="cloud", shadow_fraction=1.0),
        engine, {"cloud": cloud}, audit=audit,
    )  # fmt: skip
    red = AnnotateRequest(solid_jpeg((250, 0, 0)), LABELS)
    blue = AnnotateRequest(solid_jpeg((0, 0, 250)), LABELS)
    results = router.annotate([red, blue, red], private=[False, False, True])
    router.drain()
    assert [r.labels[0].name for r in results if r.labels] == ["red", "blue", "red"]
    assert all(r.extra["routes"] == {"labels": "local"} for r in results)
    assert cloud.calls == 2  # the private one was never shadowed to the cloud
    summary = audit.shadow_summary()
    assert summary == {"local -> cloud": {"compared": 2, "label_top1": 0.5, "label_top5": 0.5}}
    from typer.testing import CliRunner

    from localvision.cli.app import app

    out = CliRunner().invoke(app, ["audit", "--json"], env={"LOCALVISION_HOME": str(tmp_path)})
    assert json.loads(out.stdout)["shadow"] == summary
    router.close()


def test_burst_overflows_to_the_cloud_only_while_the_queue_is_long(
    engine: LocalEngine, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path)
    cloud = Scripted("cloud", audit)
    queued = [0]
    router = Router(
        router_settings(tmp_path, privacy=["caller"], burst="cloud", burst_queue=4),
        engine, {"cloud": cloud}, audit=audit, load=lambda: queued[0],
    )  # fmt: skip
    red = AnnotateRequest(solid_jpeg((250, 0, 0)), LABELS)
    assert router.annotate([red])[0].extra["routes"] == {"labels": "local"}
    queued[0] = 5
    busy, private = router.annotate([red, red], private=[False, True])
    assert busy.extra["routes"] == {"labels": "cloud"} and busy.labels[0].name == "cloud-answer"  # type: ignore[index]
    assert private.extra["routes"] == {"labels": "local"} and cloud.calls == 1
    cloud.fail = True  # a failing burst provider leaves the work local
    (fallen,) = router.annotate([red])
    assert fallen.extra["routes"] == {"labels": "local"} and fallen.labels[0].name == "red"  # type: ignore[index]


def test_a_feature_budget_caps_that_feature_only(engine: LocalEngine, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path)
    prices = [
        PriceEntry("cloud", feature, 0, (Tier(None, 1.0),), "test", "2026-11-01")
        for feature in ("labels", "colors")
    ]
    settings = router_settings(
        tmp_path,
        routes={"labels": ["cloud", "local"], "colors": ["cloud", "local"]},
        privacy=[],
        budgets={"cloud/labels": 0.0015},
    )
    cloud = Scripted("cloud", audit)
    router = Router(settings, engine, {"cloud": cloud}, audit=audit, prices=prices)
    labels = AnnotateRequest(solid_jpeg((250, 0, 0)), LABELS)
    colours = AnnotateRequest(solid_jpeg((250, 0, 0)), [FeatureRequest(Feature.COLORS)])
    routes = [r.extra["routes"] for r in router.annotate([labels, labels, colours, colours])]
    assert routes == [
        {"labels": "cloud"},
        {"labels": "local"},  # $0.002 would pass the $0.0015 labels cap
        {"colors": "cloud"},
        {"colors": "cloud"},
    ]
    with pytest.raises(ConfigError, match="Unknown feature"):
        Router(
            router_settings(tmp_path, routes={"labels": ["cloud"]}, budgets={"cloud/smell": 1}),
            engine, {"cloud": cloud}, audit=audit,
        )  # fmt: skip


def test_key_budgets_cap_one_caller_and_records_name_the_key(
    engine: LocalEngine, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path)
    prices = [PriceEntry("cloud", "labels", 1000, (Tier(None, 1.0),), "test", "2026-11-01")]
    settings = router_settings(
        tmp_path,
        routes={"labels": ["cloud", "local"]},
        privacy=["caller"],
        key_budgets={"sha256:team-a": 0.0025},
    )
    cloud = Scripted("cloud", audit)
    router = Router(settings, engine, {"cloud": cloud}, audit=audit, prices=prices)
    red = AnnotateRequest(solid_jpeg((250, 0, 0)), LABELS)

    def routes(key: str) -> list[str]:
        return [r.extra["routes"]["labels"] for r in router.annotate([red] * 3, key=key)]

    # $0.001 each at list price: the account's 1,000 free units are not one key's to spend
    assert routes("sha256:team-a") == ["cloud", "cloud", "local"]
    assert routes("sha256:team-b") == ["cloud"] * 3  # no cap of its own
    assert router.spent_by_key("sha256:team-a") == pytest.approx(0.002)
    sent = [r for r in audit.entries() if not r.refused]
    assert [r.key_id for r in sent] == ["sha256:team-a"] * 2 + ["sha256:team-b"] * 3
    (refusal,) = [r for r in audit.entries() if r.refused]
    assert refusal.outcome == "refused: key budget" and refusal.key_id == "sha256:team-a"
    again = Router(settings, engine, {"cloud": cloud}, audit=audit, prices=prices)
    assert again.spent_by_key("sha256:team-a") == pytest.approx(0.002)  # read back from the log
