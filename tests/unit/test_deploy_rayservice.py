"""The ``rayservice`` plan: what it refuses and why, the extras, the Ray release, the sizing."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from localvision.config import (
    ModelConfig,
    RayAutoscaling,
    RaySettings,
    ServerSettings,
    Settings,
)
from localvision.deploy import DeployRequest, ModelSource, make_plan
from localvision.deploy.plan import Install, Plan
from localvision.deploy.ray_config import ray_config
from localvision.deploy.ray_image import base_image, ray_version
from localvision.deploy.ray_workers import worker_group
from localvision.errors import ConfigError, InvalidParameterError, LocalVisionError

ROOT = Path(__file__).resolve().parents[2]
KEY_HASH = "sha256:" + "ab" * 32
SECURE = Settings(
    server=ServerSettings(api_keys=[KEY_HASH], aws_credentials={"AKIAEXAMPLE": "secret"})
)
URI_MODEL = ModelSource("pets", uri="s3://models/pets/3/pets.onnx")


def plan(**kwargs: Any) -> Plan:
    kwargs.setdefault("models", (URI_MODEL,))
    kwargs.setdefault("settings", SECURE)
    return make_plan(DeployRequest("rayservice", **kwargs))


def refused(error: type[LocalVisionError], **kwargs: Any) -> str:
    with pytest.raises(error) as caught:
        plan(**kwargs)
    return str(caught.value)


def with_ray(**values: Any) -> Settings:
    return SECURE.model_copy(update={"ray": RaySettings(**values)})


# -- refusals, each with its reason


def test_the_serve_proxy_on_every_address_needs_credentials_or_insecure() -> None:
    message = refused(ConfigError, settings=Settings())
    assert "Refusing to listen on 0.0.0.0 without credentials" in message
    assert "--insecure" in message
    assert plan(settings=Settings(), insecure=True).target == "rayservice"


def test_a_proxy_on_loopback_is_refused() -> None:
    assert "cannot be reached from outside it" in refused(InvalidParameterError, host="127.0.0.1")


def test_a_local_model_file_needs_bake(tmp_path: Path) -> None:
    path = tmp_path / "pets.onnx"
    path.write_bytes(b"model")
    message = refused(InvalidParameterError, models=(ModelSource("pets", file=path),))
    assert "is a file on this machine" in message and "which the container cannot read" in message
    assert "--bake" in message
    baked = plan(models=(ModelSource("pets", file=path, format="onnx"),), bake=True)
    assert baked.models[0].location == "/opt/localvision/models/pets.onnx"


def test_a_config_model_on_this_machine_is_refused(tmp_path: Path) -> None:
    local = SECURE.model_copy(
        update={"models": {"cats": ModelConfig(path=str(tmp_path / "cats.onnx"))}}
    )
    assert "a path on this machine" in refused(ConfigError, settings=local)


def test_gpu_and_replica_gpus_go_together() -> None:
    message = refused(InvalidParameterError, gpu=True)
    assert "[ray] replica_gpus is 0" in message and "replica_gpus = 1" in message
    message = refused(InvalidParameterError, settings=with_ray(replica_gpus=1))
    assert "replica_gpus = 1 asks a GPU for each replica" in message and "--gpu" in message
    assert plan(gpu=True, settings=with_ray(replica_gpus=1)).request.gpu


def test_a_name_kuberay_cannot_extend_is_refused() -> None:
    assert plan(name="a" * 47).request.name == "a" * 47
    message = refused(InvalidParameterError, name="a" * 48)
    assert "at most 47" in message


# -- what the plan decides


def test_the_image_has_the_ray_extra_and_what_the_models_need(tmp_path: Path) -> None:
    assert plan().extras == ("aws", "fast", "ray", "storage")  # aws: SigV4 for aws_credentials
    assert plan(settings=Settings(), insecure=True).extras == ("fast", "ray", "storage")
    path = tmp_path / "pets.tflite"
    path.write_bytes(b"model")
    baked = plan(
        models=(ModelSource("pets", file=path, format="tflite"),),
        bake=True,
        settings=Settings(),
        insecure=True,
    )
    assert baked.extras == ("fast", "litert", "ray")


def test_grpc_is_left_to_the_plain_server() -> None:
    grpc = SECURE.model_copy(
        update={"server": SECURE.server.model_copy(update={"grpc_port": 8081})}
    )
    planned = plan(settings=grpc)
    assert "grpc" not in planned.extras
    assert any("gRPC API stays on the plain server" in note for note in planned.notes)


def test_images_are_named_for_ray() -> None:
    from localvision import __version__

    assert plan().image == f"localvision-ray:{__version__}"
    assert plan(gpu=True, settings=with_ray(replica_gpus=1)).image.endswith("-gpu")


def test_the_ray_release_is_the_ray_extras_pin() -> None:
    """The image's Ray is the one pyproject's ray extra pins, from the checkout and from the
    installed package's metadata alike, so the two cannot drift apart."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        (pin,) = tomllib.load(fh)["project"]["optional-dependencies"]["ray"]
    version = pin.split("==", 1)[1]
    assert ray_version(Install("0.1.0", source=ROOT)) == version
    assert ray_version(Install("0.1.0")) == version
    assert base_image(plan()) == f"rayproject/ray:{version}-py311"
    gpu = plan(gpu=True, settings=with_ray(replica_gpus=1))
    assert base_image(gpu) == f"rayproject/ray:{version}-py311-gpu"


def test_a_ray_extra_without_an_exact_pin_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "localvision"\n'
        '[project.optional-dependencies]\nray = ["ray[serve,data]>=2.50"]\n'
    )
    with pytest.raises(InvalidParameterError, match="pins no exact Ray release"):
        ray_version(Install("0.1.0", source=tmp_path))


@pytest.mark.parametrize(
    ("ray", "expected"),
    [
        # (cpus, gpus, replicas per pod, min pods, max pods, autoscaling)
        ({}, (1, 0, 1, 1, 1, False)),
        ({"num_replicas": 3, "replica_cpus": 2}, (2, 0, 1, 3, 3, False)),
        ({"num_replicas": 3, "replica_cpus": 0.5}, (1, 0, 2, 2, 2, False)),
        ({"replica_cpus": 1 / 3, "num_replicas": 3}, (1, 0, 3, 1, 1, False)),
        ({"replica_cpus": 1.5, "num_replicas": 2}, (2, 0, 1, 2, 2, False)),
        (
            {"replica_cpus": 0.5, "autoscaling": RayAutoscaling(min_replicas=1, max_replicas=8)},
            (1, 0, 2, 1, 4, True),
        ),
        (
            {"autoscaling": RayAutoscaling(min_replicas=0, max_replicas=3)},
            (1, 0, 1, 0, 3, True),
        ),
        ({"replica_gpus": 0.5, "replica_cpus": 1, "num_replicas": 4}, (1, 1, 1, 4, 4, False)),
        ({"replica_gpus": 0.5, "replica_cpus": 0.5, "num_replicas": 4}, (1, 1, 2, 2, 2, False)),
    ],
)
def test_worker_pods_hold_the_replicas_ray_asks_for(
    ray: dict[str, Any], expected: tuple[int, int, int, int, int, bool]
) -> None:
    group = worker_group(RaySettings(**ray))
    found = (
        group.cpus,
        group.gpus,
        group.replicas_per_pod,
        group.min_pods,
        group.max_pods,
        group.autoscaling,
    )
    assert found == expected
    assert group.container_cpus == group.cpus + 1  # Ray's own processes get a core
    assert group.memory.endswith("Gi")


def test_the_config_is_cut_at_its_credentials() -> None:
    settings = SECURE.model_copy(
        update={
            "features": {"labels": "pets"},
            "ray": RaySettings(replica_cpus=2, autoscaling=RayAutoscaling()),
        }
    )
    config = ray_config(plan(settings=settings))
    public = tomllib.loads(config.public)
    assert public["models"] == {"pets": {"path": URI_MODEL.uri}}
    assert public["features"] == {"labels": "pets"}
    assert public["ray"] == {"replica_cpus": 2.0, "autoscaling": {}}  # defaults stay defaults
    assert "server" not in public and "home" not in public
    assert KEY_HASH not in config.public and "secret" not in config.public.split("\n", 3)[-1]
    assert config.credentials is not None
    credentials = tomllib.loads(config.credentials)
    assert credentials == {
        "server": {"api_keys": [KEY_HASH], "aws_credentials": {"AKIAEXAMPLE": "secret"}}
    }
    open_config = ray_config(plan(settings=Settings(), insecure=True))
    assert open_config.credentials is None


def test_a_config_that_would_not_load_is_refused() -> None:
    """The joined file is read back as Settings before anything is written: settings built in
    code without validation (model_copy) fail there, not on the cluster."""
    settings = SECURE.model_copy(update={"max_image_bytes": -1})
    with pytest.raises(ConfigError, match="would not load"):
        ray_config(plan(settings=settings))
