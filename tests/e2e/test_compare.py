"""``localvision compare`` end to end: every section, consistent numbers, no network."""

from __future__ import annotations

import json
import socket
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localvision.cli.app import app

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S

runner = CliRunner()


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.report = ""
        self._in_report = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_report = tag == "script" and dict(attrs).get("id") == "report"

    def handle_data(self, data: str) -> None:
        if self._in_report:
            self.report += data


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any connection attempt beyond loopback."""
    real = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else ""
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network call to {address}")
        return real(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    for name, colour in (("red", (240, 10, 10)), ("blue", (10, 10, 240))):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "data" / name / f"{i}.jpg").write_bytes(solid_jpeg(colour))
    return tmp_path / "data"


def test_full_compare_with_labels(
    colour_model_path: Path, labelled: Path, tmp_path: Path, no_network: None
) -> None:
    report = tmp_path / "compare.html"
    result = runner.invoke(
        app,
        [
            "compare",
            str(labelled),
            "--volume",
            "2M/month",
            "--features",
            "labels,colors",
            "--models",
            f"labels={colour_model_path}",
            "--report",
            str(report),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["cloud_calls"] == 0 and "No cloud call" in data["cloud_note"]
    assert data["accuracy"]["top1"] == 1.0 and data["accuracy"]["images"] == 6
    assert {m["feature"] for m in data["measurements"]} == {"labels", "colors"}
    assert set(data["cloud"]) == {"google", "aws", "azure"}
    # Google at 2M images: (2M - 1,000) labels at $1.50 plus the same for image properties.
    assert data["cloud"]["google"]["monthly_cost"] == pytest.approx(2 * 1999 * 1.50)
    assert data["recommendation"].startswith(("Run locally", "Use "))
    assert {f["factor"] for f in data["factors"]} >= {"Where the data goes", "Lock-in"}
    page = Collector()
    page.feed(report.read_text())
    tags = [tag for tag, _ in page.tags]
    assert "svg" in tags and tags.count("polyline") == 4  # local + three clouds
    bins = [a for t, a in page.tags if t == "rect" and a.get("class") == "hist"]
    samples = sum(len(m["latency_samples_ms"]) for m in data["measurements"])
    assert bins and samples >= len(data["measurements"])  # one histogram per feature
    assert "No cloud call was made" in report.read_text()
    circles = [a for t, a in page.tags if t == "circle" and a.get("class") == "break-even"]
    assert len(circles) == sum(1 for v in data["break_even"].values() if v)
    assert json.loads(page.report)["local"]["monthly_cost"] == data["local"]["monthly_cost"]
    assert f"${data['local']['monthly_cost']:,.2f}" in report.read_text()


def test_compare_on_unlabelled_photos_says_so(models_dir: Path, photos_dir: Path) -> None:
    result = runner.invoke(
        app,
        [
            "compare",
            str(photos_dir),
            "--features",
            "labels",
            "--models",
            f"labels={models_dir / 'mobilenetv2-12-int8.onnx'}",
            "--providers",
            "google",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert "no labels" in data["accuracy"]["note"]
    assert data["images"] >= 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--volume", "lots"], "Cannot read the volume"),
        (["--features", "crop_hints", "--providers", "aws"], "'aws' and feature 'crop_hints'"),
        (["--from-audit", "--since", "yesterday"], "--since takes a date"),
        (["--features", "labels"], "No model for 'labels'"),
    ],
)
def test_bad_input_is_one_line(
    labelled: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    empty_home = {"LOCALVISION_HOME": str(tmp_path / "empty-home")}
    result = runner.invoke(app, ["compare", str(labelled), *args], env=empty_home)
    assert result.exit_code == 2 and message in result.stderr


def test_the_only_registered_classifier_is_measured_when_none_is_named(
    colour_model_path: Path, labelled: Path, tmp_path: Path
) -> None:
    home = {"LOCALVISION_HOME": str(tmp_path / "home")}
    added = runner.invoke(app, ["models", "add", "colours", str(colour_model_path)], env=home)
    assert added.exit_code == 0, added.stderr
    args = ["compare", str(labelled), "--features", "labels", "--providers", "google"]
    result = runner.invoke(app, [*args, "--json"], env=home)
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)["measurements"]
    assert row["feature"] == "labels" and row["model"] == "colours"
    shown = runner.invoke(app, args, env=home)
    assert shown.exit_code == 0 and "colours" in shown.stdout
    again = runner.invoke(app, ["models", "add", "more-colours", str(colour_model_path)], env=home)
    assert again.exit_code == 0, again.stderr
    result = runner.invoke(app, args, env=home)
    assert result.exit_code == 2 and "several classifiers" in result.stderr
    assert "colours, more-colours" in result.stderr


def test_bad_hardware_profile_and_empty_folder(labelled: Path, tmp_path: Path) -> None:
    profile = tmp_path / "hw.toml"
    profile.write_text("gpu_count = 8\n")
    result = runner.invoke(
        app, ["compare", str(labelled), "--features", "colors", "--hardware", str(profile)]
    )
    assert result.exit_code == 2 and "hardware profile" in result.stderr
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["compare", str(tmp_path / "empty"), "--features", "colors"])
    assert result.exit_code == 2 and "No images" in result.stderr


def test_measuring_the_cloud_against_our_own_server(
    colour_model_path: Path, labelled: Path, tmp_path: Path, colour_server
) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("httpx", reason="the cloud extra calls providers")
    config = tmp_path / "localvision.toml"
    config.write_text(
        '[cloud]\negress = "allow"\n[cloud.google]\napi_key = "k"\n'
        f'endpoint = "{colour_server.url}"\ntimeout_s = {CLIENT_TIMEOUT_S}\n'
        f'[cloud.aws]\nendpoint = "{colour_server.url}"\n'
        'access_key_id = "AKIDTEST"\nsecret_access_key = "test-secret"\n'
        f"timeout_s = {CLIENT_TIMEOUT_S}\n"
    )
    result = runner.invoke(
        app,
        [
            "compare",
            str(labelled),
            "--features",
            "labels",
            "--models",
            f"labels={colour_model_path}",
            "--providers",
            "google,aws",
            "--measure-cloud",
            "--config",
            str(config),
            "--report",
            str(tmp_path / "measured.html"),
            "--json",
        ],
        env={"LOCALVISION_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    google = data["cloud"]["google"]
    assert google["measured"] and google["calls"] == 6 and data["cloud_calls"] == 12
    assert google["agreement"] == {"label_top1": 1.0, "label_top5": 1.0}
    assert google["latency_ms"]["p50"] > 0
    aws = data["cloud"]["aws"]  # the same images through boto3 and the Rekognition wire format
    assert aws["measured"] and aws["calls"] == 6 and aws["failed"] == 0
    assert aws["agreement"] == {"label_top1": 1.0, "label_top5": 1.0}
    page = (tmp_path / "measured.html").read_text()
    assert "aws: label top1" in page and "google (all features): 6 calls" in page


def test_cloud_spend_needs_yes_above_the_threshold(
    colour_model_path: Path, labelled: Path, tmp_path: Path
) -> None:
    from localvision.advisor.compare import compare
    from localvision.advisor.costs import HardwareProfile, PriceEntry, Tier
    from localvision.config import CloudSettings, GoogleProviderSettings, Settings
    from localvision.errors import InvalidInputError
    from localvision.types import Feature

    pytest.importorskip("httpx", reason="the cloud extra calls providers")
    settings = Settings(
        home=tmp_path,
        cloud=CloudSettings(
            egress="allow",
            google=GoogleProviderSettings(api_key="k", endpoint="http://127.0.0.1:9"),
        ),
    )
    expensive = [PriceEntry("google", "labels", 0, (Tier(None, 100.0),), "test", "today")]
    with pytest.raises(InvalidInputError, match="cost about \\$0.60"):
        compare(
            labelled,
            features=[Feature.LABELS],
            volume=1e6,
            settings=settings,
            hardware=HardwareProfile(),
            providers=["google"],
            models={"labels": str(colour_model_path)},
            prices=expensive,
            measure_cloud=True,
        )


def test_prices_file_overrides_the_list_prices(labelled: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[[price]]\nprovider = "google"\nfeature = "colors"\nfree_units = 0\n'
        'tiers = [{ per_1000 = 2.0 }]\nsource = "our contract"\ndate = "2026-11-01"\n'
    )
    args = ["compare", str(labelled), "--features", "colors", "--volume", "10k/month"]
    listed = json.loads(runner.invoke(app, [*args, "--providers", "google", "--json"]).stdout)
    ours = runner.invoke(app, [*args, "--providers", "google", "--prices", str(prices), "--json"])
    assert ours.exit_code == 0, ours.stderr
    assert json.loads(ours.stdout)["cloud"]["google"]["monthly_cost"] == pytest.approx(20.0)
    assert listed["cloud"]["google"]["monthly_cost"] == pytest.approx(9 * 1.5)  # 1,000 free
    prices.write_text('[[price]]\nprovider = "google"\nfeature = "colors"\n')
    broken = runner.invoke(app, [*args, "--prices", str(prices)])
    assert broken.exit_code == 2 and "prices entry 1" in broken.stderr


def test_from_audit_reports_shadow_agreement_and_spend(tmp_path: Path) -> None:
    import time

    from localvision.cloud.audit import AuditLog, EgressRecord

    log = AuditLog(tmp_path)
    now = time.time()
    log.record(EgressRecord(now, "google", "x", ["labels"], 2000, 10, [], "ok", 5.0))
    log.record(EgressRecord(now, "google", "router", ["labels"], 0, 0, [], "refused: budget", 0))
    log.record_shadow(now, "local", "google", ["labels"], {"label_top1": 1.0, "label_top5": 1.0})
    log.record_shadow(now, "local", "google", ["labels"], {"label_top1": 0.0, "label_top5": 1.0})
    env = {"LOCALVISION_HOME": str(tmp_path)}
    result = runner.invoke(app, ["compare", "--from-audit", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["shadow"] == {
        "local -> google": {"compared": 2, "label_top1": 0.5, "label_top5": 1.0}
    }
    assert report["spend_usd"]["google"] == pytest.approx(1.5)  # 1,000 free, 1,000 at $1.50
    assert report["egress"]["google"]["images"] == 2000  # the refusal is not egress
    later = runner.invoke(app, ["compare", "--from-audit", "--since", "2999-01-01"], env=env)
    assert later.exit_code == 0 and "No shadow records" in later.stdout
