"""The pieces of ``localvision.scale`` that need no engine and no Ray: rows, the output folder,
``--ray``'s parsing, addresses and ``[ray]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from localvision.cli.ray_option import with_bare_value
from localvision.config import RaySettings, Settings
from localvision.errors import (
    ConfigError,
    ImageDecodeError,
    InvalidParameterError,
    MissingDependencyError,
)
from localvision.scale import BatchOutput, result_row
from localvision.scale.cluster import LOCAL, _endpoint, connected, resolve_address
from localvision.types import AnnotateResult, Color, Feature, ImageQuality, Label


def test_a_row_holds_each_feature_as_json_and_the_error_in_three_columns() -> None:
    result = AnnotateResult(
        name="x.jpg",
        width=4,
        height=3,
        labels=[Label("tabby, tabby cat", 0.8123456789, 281)],
        colors=[Color(250, 0, 0, 0.9, 0.75, "red", "red")],
        quality=ImageQuality(0.5, 0.25, 0.125),
    )
    row = result_row("/p/x.jpg", 1234, result, [Feature.LABELS, Feature.COLORS, Feature.FACES])
    assert row["path"] == "/p/x.jpg" and row["size"] == 1234
    assert (row["width"], row["height"]) == (4, 3)
    assert json.loads(row["labels"]) == [
        {"label": "tabby, tabby cat", "score": 0.812346, "index": 281}
    ]
    colors = json.loads(row["colors"])
    assert colors["colors"][0]["hex"] == "#fa0000" and colors["quality"]["sharpness"] == 0.25
    assert row["faces"] is None  # asked for, not answered
    assert row["error_type"] is row["error_code"] is row["error_message"] is None
    failed = AnnotateResult(name="y.jpg", error=ImageDecodeError("Image y.jpg is corrupt."))
    row = result_row("/p/y.jpg", None, failed, [Feature.LABELS])
    assert (row["error_type"], row["error_code"], row["error_message"]) == (
        "ImageDecodeError",
        "image_decode_failed",
        "Image y.jpg is corrupt.",
    )
    assert row["labels"] is None and row["width"] is None


def rows() -> list[dict[str, object]]:
    ok = AnnotateResult(name="a", width=2, height=2, labels=[Label("é", 0.5, 1)])
    bad = AnnotateResult(name="b", error=ImageDecodeError("no"))
    return [result_row("/a", 10, ok, [Feature.LABELS]), result_row("/b", 3, bad, [Feature.LABELS])]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_parts_read_back_as_the_rows_written(tmp_path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="Parquet needs the ray extra's pyarrow")
    output = BatchOutput(tmp_path / "out", [Feature.LABELS], fmt)  # type: ignore[arg-type]
    output.prepare()
    output.write_part(rows(), output.part_name("run", 0))
    assert list(output.rows()) == rows()
    assert output.done() == {"/a", "/b"}
    assert [p.name for p in output.parts()] == [f"part-run-000000.{fmt}"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
    leftover = tmp_path / "out" / f".part-run-000001.{fmt}.0123.tmp"  # a killed run's
    leftover.write_text("half a part")
    assert len(output.parts()) == 1
    output.remove_leftovers()
    assert not leftover.exists() and len(output.parts()) == 1


def test_an_output_folder_is_for_one_kind_of_row(tmp_path: Path) -> None:
    BatchOutput(tmp_path / "out", [Feature.LABELS], "jsonl").prepare()
    BatchOutput(tmp_path / "out", [Feature.LABELS], "jsonl").prepare()  # the same job: resumes
    with pytest.raises(InvalidParameterError, match="holds rows of another job"):
        BatchOutput(tmp_path / "out", [Feature.LABELS, Feature.COLORS], "jsonl").prepare()
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidParameterError, match="is a file"):
        BatchOutput(tmp_path / "file", [Feature.LABELS], "jsonl").prepare()
    with pytest.raises(InvalidParameterError, match="parquet, jsonl"):
        BatchOutput(tmp_path / "x", [Feature.LABELS], "csv")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["a", "--ray"], ["a", "--ray", ""]),
        (["a", "--ray", "--json"], ["a", "--ray", "", "--json"]),
        (["a", "--ray", "auto"], ["a", "--ray", "auto"]),
        (["a", "--ray=ray://h:1"], ["a", "--ray=ray://h:1"]),
        (["a"], ["a"]),
    ],
)
def test_a_bare_ray_option_gets_the_empty_value(args: list[str], expected: list[str]) -> None:
    assert with_bare_value(args) == expected


def test_addresses() -> None:
    assert resolve_address("", RaySettings()) == LOCAL
    assert resolve_address(None, RaySettings(address="auto")) == "auto"
    assert resolve_address("ray://h:1", RaySettings(address="auto")) == "ray://h:1"
    assert _endpoint("ray://head.internal:10001") == ("head.internal", 10001)
    assert _endpoint("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert _endpoint("[::1]:6379") == ("::1", 6379)
    assert _endpoint("auto") is None


def test_ray_settings_are_checked_when_read(tmp_path: Path) -> None:
    config = tmp_path / "localvision.toml"
    config.write_text("[ray]\nnum_replicas = 3\n[ray.autoscaling]\nmin_replicas = 2\n")
    settings = Settings.load(config, environ={})
    assert settings.ray.num_replicas == 3 and settings.ray.autoscaling is not None
    assert settings.ray.autoscaling.max_replicas == 4
    config.write_text("[ray.autoscaling]\nmin_replicas = 5\nmax_replicas = 2\n")
    with pytest.raises(ConfigError, match="min_replicas \\(5\\) is more than max_replicas"):
        Settings.load(config, environ={})
    config.write_text("[ray]\nreplicas = 2\n")
    with pytest.raises(ConfigError, match="ray.replicas"):
        Settings.load(config, environ={})


def test_without_the_extra_ray_is_one_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without ray sees
    for name in ("RAY_USAGE_STATS_ENABLED", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):
        monkeypatch.setenv(name, "0")  # a local Ray's defaults: restored after the test
    missing = pytest.raises(MissingDependencyError, match=r"pip install 'localvision\[ray\]'")
    with missing, connected("", RaySettings()):
        pass


def test_the_rayservice_import_path_builds_the_deployment_from_the_config(tmp_path: Path) -> None:
    pytest.importorskip("ray.serve", reason="the ray extra builds Ray Serve applications")
    from localvision.scale.ray_serve import APP_NAME, build

    config = tmp_path / "localvision.toml"
    config.write_text("[ray]\nnum_replicas = 3\nreplica_cpus = 0.5\n[server]\ngrpc_port = 8081\n")
    deployment = build({"config": str(config)})._bound_deployment  # what KubeRay deploys
    assert (deployment.name, deployment.num_replicas) == (APP_NAME, 3)
    assert deployment.ray_actor_options["num_cpus"] == 0.5
    (replica_settings,) = deployment.init_args
    assert replica_settings.server.grpc_port is None  # gRPC stays on the plain server
    config.write_text("[ray.autoscaling]\nmin_replicas = 1\nmax_replicas = 6\n")
    scaled = build({"config": str(config)})._bound_deployment
    assert scaled._deployment_config.autoscaling_config.max_replicas == 6
