"""The deployment plan: every refused combination with its reason, and the extras chosen."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from localvision.config import ModelConfig, ServerSettings, Settings
from localvision.deploy import DeployRequest, ModelSource, make_plan
from localvision.deploy.extras import (
    FEATURE_EXTRAS,
    FORMAT_EXTRAS,
    KNOWN_EXTRAS,
    SUFFIX_FORMATS,
    format_of_suffix,
)
from localvision.deploy.plan import DRAIN_S, GRACE_S, PRESTOP_S, Plan
from localvision.errors import ConfigError, InvalidParameterError, LocalVisionError

ROOT = Path(__file__).resolve().parents[2]
KEY_HASH = "sha256:" + "ab" * 32
SECURE = Settings(
    server=ServerSettings(api_keys=[KEY_HASH], aws_credentials={"AKIAEXAMPLE": "secret"})
)
URI_MODEL = ModelSource("pets", uri="s3://models/pets/3/")


def file_model(tmp_path: Path, name: str = "pets", suffix: str = ".onnx") -> ModelSource:
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(b"model bytes")
    return ModelSource(name, file=path, format=SUFFIX_FORMATS[suffix])


def plan(target: str = "kubernetes", **kwargs: Any) -> Plan:
    kwargs.setdefault("models", (URI_MODEL,))
    kwargs.setdefault("settings", SECURE)
    return make_plan(DeployRequest(target, **kwargs))


def refused(error: type[LocalVisionError], target: str = "kubernetes", **kwargs: Any) -> str:
    with pytest.raises(error) as caught:
        plan(target, **kwargs)
    return str(caught.value)


# -- refusals, each with its reason


def test_an_unknown_target_lists_the_valid_ones() -> None:
    message = refused(InvalidParameterError, "heroku")
    assert "'heroku' is not a deployment target" in message
    assert "docker, compose, kubernetes, kserve, cloudrun, lambda" in message


@pytest.mark.parametrize("target", ["docker", "compose", "kubernetes", "kserve", "cloudrun"])
def test_listening_on_every_address_without_credentials_is_refused(target: str) -> None:
    message = refused(ConfigError, target, settings=Settings())
    assert "Refusing to listen on 0.0.0.0 without credentials" in message
    assert "--insecure" in message


def test_api_keys_without_aws_credentials_are_not_enough() -> None:
    keys_only = Settings(server=ServerSettings(api_keys=[KEY_HASH]))
    assert "Refusing to listen" in refused(ConfigError, settings=keys_only)


def test_lambda_is_exposed_too(tmp_path: Path) -> None:
    """A Function URL answers anyone who has it: the same rule as a server on 0.0.0.0."""
    message = refused(
        ConfigError, "lambda", settings=Settings(), models=(file_model(tmp_path),), bake=True
    )
    assert "Refusing to listen" in message
    loopback = {"settings": Settings(), "models": (file_model(tmp_path),), "bake": True}
    assert "Refusing to listen" in refused(ConfigError, "lambda", host="127.0.0.1", **loopback)


def test_credentials_or_insecure_let_it_through() -> None:
    assert plan(settings=SECURE).models[0].location == "s3://models/pets/3/"
    insecure = plan(settings=Settings(), insecure=True)
    assert "--insecure" in insecure.serve_args()
    configured = plan(settings=Settings(server=ServerSettings(insecure=True)))
    assert "--insecure" not in configured.serve_args()  # the mounted config says it already


def test_a_container_listening_on_loopback_is_refused() -> None:
    message = refused(InvalidParameterError, host="127.0.0.1")
    assert "cannot be reached from outside it" in message


def test_bake_needs_a_local_file_or_registered_model() -> None:
    message = refused(InvalidParameterError, bake=True)
    assert "--bake copies a model file into the image" in message
    assert "s3://models/pets/3/" in message
    assert "models pull" in message


def test_a_local_file_without_bake_is_refused(tmp_path: Path) -> None:
    message = refused(InvalidParameterError, models=(file_model(tmp_path),))
    assert "which the container cannot read" in message
    assert "--bake" in message and "models push" in message


def test_lambda_needs_bake() -> None:
    message = refused(InvalidParameterError, "lambda")
    assert "The lambda target needs --bake" in message
    assert "cold start" in message


def test_lambda_has_no_gpus(tmp_path: Path) -> None:
    message = refused(
        InvalidParameterError, "lambda", models=(file_model(tmp_path),), bake=True, gpu=True
    )
    assert "AWS Lambda has no GPUs" in message


@pytest.mark.parametrize("name", ["../etc", "a b", "", "-x", "pets@3", "x" * 129])
def test_an_invalid_model_name_is_refused(name: str) -> None:
    message = refused(InvalidParameterError, models=(ModelSource(name, uri="s3://b/m/1/"),))
    assert "is not a valid model name" in message


def test_the_same_model_name_twice_is_refused() -> None:
    message = refused(InvalidParameterError, models=(URI_MODEL, URI_MODEL))
    assert "given twice" in message


def test_a_uri_the_server_cannot_fetch_is_refused() -> None:
    model = ModelSource("pets", uri="https://example.com/pets.onnx")
    message = refused(InvalidParameterError, models=(model,))
    assert "s3://, gs://, az://, abfs://, file://" in message


def test_kserve_fetches_one_storage_uri() -> None:
    two = (URI_MODEL, ModelSource("cats", uri="gs://models/cats/1/"))
    assert "one storageUri per InferenceService" in refused(
        InvalidParameterError, "kserve", models=two
    )
    assert "needs a model" in refused(InvalidParameterError, "kserve", models=())
    folder = (ModelSource("cats", uri="gs://models/cats/"),)  # every version would be copied
    assert "a model folder" in refused(InvalidParameterError, "kserve", models=folder)


def test_config_models_the_container_cannot_reach_are_refused(tmp_path: Path) -> None:
    local = SECURE.model_copy(
        update={"models": {"cats": ModelConfig(path=str(tmp_path / "cats.onnx"))}}
    )
    message = refused(ConfigError, settings=local)
    assert "[models.cats]" in message and "a path on this machine" in message
    # Named again with --model, it is replaced (as serve --model replaces it).
    assert plan(settings=local, models=(URI_MODEL, ModelSource("cats", uri="s3://b/cats/1/")))


def test_a_feature_naming_a_model_the_container_lacks_is_refused() -> None:
    registered = SECURE.model_copy(update={"features": {"labels": "mobilenet@production"}})
    message = refused(ConfigError, settings=registered)
    assert "[features] labels = 'mobilenet@production'" in message


def test_lambda_config_must_not_name_models(tmp_path: Path) -> None:
    with_models = SECURE.model_copy(
        update={"models": {"pets": ModelConfig(path="s3://models/pets/3/")}}
    )
    message = refused(
        ConfigError, "lambda", settings=with_models, models=(file_model(tmp_path),), bake=True
    )
    assert "names only the models baked into it" in message


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"name": "Local_Vision"}, "cannot name the deployment's resources"),
        ({"min_replicas": 3, "max_replicas": 2}, "--max-replicas at least --replicas"),
        ({"extras": ("tensorflow",)}, "not an extra of localvision"),
        ({"features": ("telepathy",)}, "Unknown feature 'telepathy'"),
        ({"install": "nightly"}, "--install must be auto, checkout or release"),
        ({"cache": "nfs"}, "--cache must be emptydir or pvc"),
    ],
)
def test_bad_options_are_refused_with_their_reason(kwargs: dict[str, Any], reason: str) -> None:
    assert reason in refused(InvalidParameterError, **kwargs)


# -- what the plan decides


def test_an_onnx_model_from_storage_needs_only_the_storage_extra() -> None:
    assert plan(settings=Settings(), insecure=True).extras == ("fast", "storage")
    # SigV4 on the AWS route (server.aws_credentials) is verified with botocore's signer.
    assert plan(settings=SECURE).extras == ("aws", "fast", "storage")


def test_baked_onnx_needs_no_extra_but_fast_serving(tmp_path: Path) -> None:
    baked = plan(
        "docker", models=(file_model(tmp_path),), bake=True, settings=Settings(), insecure=True
    )
    assert baked.extras == ("fast",)
    assert baked.models[0].location == "/opt/localvision/models/pets.onnx"
    assert baked.serve_args()[-3:-1] == ["--model", "pets=/opt/localvision/models/pets.onnx"]


@pytest.mark.parametrize(
    ("suffix", "extra"),
    [(".tflite", "litert"), (".keras", "keras"), (".h5", "keras"), (".pt2", "torch")],
)
def test_each_format_brings_its_extra_and_only_torch_formats_bring_torch(
    tmp_path: Path, suffix: str, extra: str
) -> None:
    open_ = {"settings": Settings(), "insecure": True}
    baked = plan("docker", models=(file_model(tmp_path, suffix=suffix),), bake=True, **open_)
    assert baked.extras == ("fast", extra)
    uri = plan(models=(ModelSource("pets", uri=f"s3://models/pets/3/pets{suffix}"),), **open_)
    assert uri.extras == tuple(sorted({"fast", extra, "storage"}))


def test_features_settings_and_lambda_bring_their_extras(tmp_path: Path) -> None:
    assert plan(features=("faces", "ocr", "labels")).extras == (
        "aws",
        "faces",
        "fast",
        "ocr",
        "storage",
    )
    grpc = SECURE.model_copy(
        update={"server": SECURE.server.model_copy(update={"grpc_port": 8081})}
    )
    with_grpc = plan(settings=grpc)
    assert with_grpc.extras == ("aws", "fast", "grpc", "storage")  # aws: SigV4 for aws_credentials
    assert with_grpc.ports == {"http": 8080, "grpc": 8081}
    function = plan(
        "lambda", settings=Settings(), insecure=True, models=(file_model(tmp_path),), bake=True
    )
    assert function.extras == ("fast", "lambda")
    assert function.models[0].location == "/var/task/models/pets.onnx"


def test_an_unknown_format_is_a_note_not_a_guess_at_extras() -> None:
    planned = plan()
    assert len(planned.notes) == 1
    assert "'pets' is not known from s3://models/pets/3/" in planned.notes[0]
    assert "--extra litert" in planned.notes[0]
    assert plan(extras=("litert",)).extras == ("aws", "fast", "litert", "storage")


def test_images_are_named_by_version_and_kind(tmp_path: Path) -> None:
    from localvision import __version__

    assert plan().image == f"localvision:{__version__}"
    assert plan(gpu=True).image == f"localvision:{__version__}-gpu"
    assert plan(image="registry.example/lv:7").image == "registry.example/lv:7"


def test_a_checkout_installs_from_its_source() -> None:
    assert plan(install="auto").install.source == ROOT
    assert plan(install="checkout").install.source == ROOT
    assert plan(install="release").install.source is None


def test_the_grace_period_outlasts_the_drain() -> None:
    assert GRACE_S > PRESTOP_S + DRAIN_S


# -- the tables deploy keeps in step with the parts it may not import


def test_format_extras_match_the_model_formats() -> None:
    from localvision.models.formats import FORMATS

    assert {name: fmt.extra for name, fmt in FORMATS.items()} == FORMAT_EXTRAS
    for suffix, name in SUFFIX_FORMATS.items():
        assert suffix in FORMATS[name].suffixes
    assert format_of_suffix("s3://b/models/pets/3/") is None
    assert format_of_suffix("gs://b/m/pets.TFLITE") == "tflite"


def test_feature_extras_match_the_task_table() -> None:
    from localvision.tasks.registry import TASKS

    assert {e.feature: e.extra.name for e in TASKS if e.extra is not None} == FEATURE_EXTRAS


def test_known_extras_are_the_packages_extras_an_image_may_use() -> None:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        extras = set(tomllib.load(fh)["project"]["optional-dependencies"])
    assert extras - {"dev", "all"} == KNOWN_EXTRAS


@pytest.mark.parametrize("name", ["pets", "Pets-2", "a.b_c", "9", "../x", "a b", "-x", "x" * 129])
def test_model_names_follow_the_registrys_rule(name: str) -> None:
    from localvision.registry import parse_ref

    try:
        parse_ref(name)
        registry_accepts = True
    except InvalidParameterError:
        registry_accepts = False
    try:
        plan(models=(ModelSource(name, uri="s3://b/m/1/"),))
        deploy_accepts = True
    except InvalidParameterError:
        deploy_accepts = False
    assert deploy_accepts == registry_accepts
