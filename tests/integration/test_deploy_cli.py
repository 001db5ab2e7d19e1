"""``localvision deploy render`` end to end through the command line."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from localvision.cli.app import app
from localvision.config import Settings

runner = CliRunner()


def run(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"LOCALVISION_HOME": str(home)})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "localvision.toml"
    path.write_text(
        '[server]\napi_keys = ["sha256:' + "ef" * 32 + '"]\n'
        '[server.aws_credentials]\nAKIAEXAMPLE = "s3cr3t"\n'
    )
    return path


def test_kubernetes_from_a_storage_uri(tmp_path: Path, config_file: Path) -> None:
    out = tmp_path / "deploy"
    code, stdout, stderr = run(
        tmp_path / "home",
        "deploy", "render", "kubernetes",
        "--model", "pets=s3://models/pets/3/",
        "--config", str(config_file),
        "--replicas", "3", "--max-replicas", "6",
        "--out", str(out),
        "--json",
    )  # fmt: skip
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["target"] == "kubernetes" and report["extras"] == ["aws", "fast", "storage"]
    assert {"Dockerfile", ".dockerignore", "kubernetes/deployment.yaml"} <= set(report["files"])
    assert "note: The format of model 'pets' is not known" in stderr
    hpa = yaml.safe_load((out / "kubernetes" / "hpa.yaml").read_text())
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 6)
    deployment = yaml.safe_load((out / "kubernetes" / "deployment.yaml").read_text())
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-2:] == ["--model", "pets=s3://models/pets/3/"]


def test_lambda_from_a_registered_model(tmp_path: Path, colour_model_path: Path) -> None:
    home = tmp_path / "home"
    code, stdout, stderr = run(home, "models", "add", "colours", str(colour_model_path), "--json")
    assert code == 0, stderr
    entry = json.loads(stdout)
    out = tmp_path / "function"
    code, stdout, stderr = run(
        home,
        "deploy", "render", "lambda",
        "--model", "colours@1",
        "--bake", "--insecure",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.startswith(f"wrote lambda files to {out}: ")
    baked = out / "models" / "colours.onnx"
    assert baked.read_bytes() == colour_model_path.read_bytes()
    card = tomllib.loads((out / "models" / "colours.card.toml").read_text())
    assert card["labels"] == entry["card"]["labels"] == ["red", "green", "blue", "gray"]
    config = Settings.model_validate(tomllib.loads((out / "localvision.toml").read_text()))
    assert config.models["colours"].path == "/var/task/models/colours.onnx"


def test_docker_with_a_model_file_and_its_card(tmp_path: Path, colour_model_path: Path) -> None:
    out = tmp_path / "image"
    code, _, stderr = run(
        tmp_path / "home",
        "deploy", "render", "docker",
        "-m", f"colours={colour_model_path}",
        "--bake", "--insecure", "--gpu",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    sidecar = colour_model_path.with_name("colours.card.toml")
    assert (out / "models" / "colours.card.toml").read_text() == sidecar.read_text()
    dockerfile = (out / "Dockerfile").read_text()
    assert "FROM ${BASE_IMAGE}" in dockerfile and "ARG BASE_IMAGE=nvidia/cuda:" in dockerfile


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["docker", "-m", "pets=s3://models/pets/3/"], "Refusing to listen on 0.0.0.0"),
        (["docker", "-m", "pets=s3://models/pets/3/", "--insecure", "--bake"], "--bake copies"),
        (["lambda", "-m", "pets=s3://models/pets/3/", "--insecure"], "needs --bake"),
        (["heroku", "-m", "pets=s3://models/pets/3/", "--insecure"], "not a deployment target"),
        (["docker", "-m", "pets=https://example.com/m.onnx", "--insecure"], "object storage"),
        (["docker", "-m", "unknown", "--insecure", "--bake"], "No registered model named"),
        (["docker", "-m", "bad name=s3://b/m/1/", "--insecure"], "not a valid model name"),
    ],
)
def test_refusals_exit_2_with_the_reason(tmp_path: Path, args: list[str], reason: str) -> None:
    out = tmp_path / "out"
    code, _, stderr = run(tmp_path / "home", "deploy", "render", *args, "--out", str(out))
    assert code == 2
    assert stderr.startswith("error: ") and reason in stderr
    assert not out.exists()
