"""The rendered command lines serve for real: the arguments a target's manifest gives
``localvision serve``, parsed by the real CLI and started as a server, answer correctly.

For KServe this is the whole storageUri path: ``localvision models push`` writes a version
folder, KServe's storage initializer copies that folder's objects into ``/mnt/models`` (here: a
copy into a temporary folder standing for it), and the predictor's ``--model NAME=file:///mnt/
models`` loads it, checking its SHA-256 against the manifest.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
import typer.main
import yaml

from localvision.cli.app import app
from localvision.config import ModelConfig, Settings
from localvision.deploy import DeployRequest, ModelSource, render_files
from localvision.deploy.kserve import MOUNT
from localvision.registry import Registry

from ..conftest import solid_jpeg

pytest.importorskip("fsspec", reason="the storage extra reads file:// models")
pytest.importorskip("mangum", reason="the lambda extra drives the app in-process")


def serve_models(args: list[str]) -> dict[str, str]:
    """NAME -> where, from ``localvision serve`` arguments, as the real CLI parses them."""
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    context = command.make_context("serve", list(args[1:]))
    return dict(item.split("=", 1) for item in context.params["model"])


def labels(settings: Settings, colour: tuple[int, int, int]) -> list[str]:
    """The labels the server app built from ``settings`` gives a Google request."""
    from localvision.deploy.lambda_handler import make_handler

    warm = make_handler(settings)
    try:
        image = base64.b64encode(solid_jpeg(colour)).decode()
        body = {
            "requests": [{"image": {"content": image}, "features": [{"type": "LABEL_DETECTION"}]}]
        }
        event = {
            "version": "2.0",
            "rawPath": "/v1/images:annotate",
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": "localhost"},
            "requestContext": {
                "http": {"method": "POST", "path": "/v1/images:annotate", "sourceIp": "127.0.0.1"}
            },
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }
        response = warm.handler(event, None)
        assert response["statusCode"] == 200, response
        annotations = json.loads(response["body"])["responses"][0]["labelAnnotations"]
        return [a["description"] for a in annotations]
    finally:
        warm.state.close()


def test_kserve_serves_what_the_storage_initializer_leaves(
    tmp_path: Path, colour_model_path: Path
) -> None:
    from localvision.storage import push

    registry = Registry(tmp_path / "registry-home")
    registry.add(
        "pets",
        colour_model_path,
        format_name="onnx",
        card={"labels": ["red", "green", "blue", "gray"], "input_range": "0..1"},
    )
    pushed = push(registry, "pets", (tmp_path / "bucket").as_uri())
    # The same version folder in a bucket KServe's initializer reads (s3:// or gs://).
    model = ModelSource("pets", uri=f"s3://models/pets/{pushed.manifest.version}/")
    render_files(DeployRequest("kserve", models=(model,), insecure=True), tmp_path / "out")
    service = yaml.safe_load((tmp_path / "out" / "inferenceservice.yaml").read_text())
    container = service["spec"]["predictor"]["containers"][0]
    assert {e["name"]: e["value"] for e in container["env"]}["STORAGE_URI"] == model.uri

    # KServe's storage initializer: the version folder's objects, copied into the mount.
    mount = tmp_path / MOUNT.strip("/")
    shutil.copytree(Path(pushed.uri.removeprefix("file://")), mount)
    where = serve_models(container["args"])["pets"]
    assert where == f"file://{MOUNT}"
    local = where.replace(MOUNT, mount.as_posix())
    settings = Settings(home=tmp_path / "home", models={"pets": ModelConfig(path=local)})
    assert labels(settings, (220, 20, 20))[0] == "red"
    assert labels(settings, (20, 20, 220))[0] == "blue"


def test_a_baked_model_serves_from_the_image_path(tmp_path: Path, colour_model_path: Path) -> None:
    card = colour_model_path.with_name("colours.card.toml")
    model = ModelSource("colours", file=colour_model_path, card=card, format="onnx")
    out = tmp_path / "out"
    plan, _ = render_files(DeployRequest("docker", models=(model,), bake=True, insecure=True), out)
    where = serve_models(plan.serve_args())["colours"]
    assert where == f"{plan.models_dir}/colours.onnx"
    # The image's models folder is the build context's models/ (COPY models/ -> models_dir).
    local = out / "models" / Path(where).name
    settings = Settings(home=tmp_path / "home", models={"colours": ModelConfig(path=str(local))})
    assert labels(settings, (20, 200, 20))[0] == "green"
