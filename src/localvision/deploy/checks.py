"""What ``deploy render`` refuses, and why: combinations that would build or apply fine and
then fail at run time.

* a target that does not exist, a model name the server would not accept, the same name twice;
* listening beyond loopback (every target does) without credentials for every route and
  without ``--insecure``: the rule ``localvision serve`` applies
  (:func:`localvision.server.exposure.check_exposure`);
* a container listening on loopback, which nothing outside it can reach;
* a URI the server cannot fetch (not object storage);
* ``--bake`` with a model that is not a local file or registered model (there is no file to
  copy), and a local file or registered model without ``--bake`` (the container cannot read
  this machine's disk or registry);
* ``lambda`` without ``--bake`` (Lambda has no disk that outlives a cold start to cache a
  download on) and ``lambda`` with ``--gpu`` (Lambda has no GPUs);
* a config whose ``[models]`` or ``[features]`` point at files or registered models the
  container will not have;
* ``kserve`` with no model, or more than one from storage;
* ``rayservice`` with a name too long for the RayCluster KubeRay derives from it, ``--gpu``
  without ``[ray] replica_gpus`` (no replica would be given the GPU) and GPUs per replica
  without ``--gpu`` (the image would have no CUDA).
"""

from __future__ import annotations

import re

from ..errors import ConfigError, InvalidParameterError
from ..server.exposure import check_exposure, is_loopback
from ..storage import is_storage_uri
from .request import TARGETS, DeployRequest

__all__ = ["check_request", "is_uri"]

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_APP_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
"""Any URI's scheme (a storage URI's, or one the server cannot fetch)."""


def check_request(request: DeployRequest) -> None:
    """Raise the first refusal for ``request``, with its reason and what to do instead."""
    _check_target(request)
    _check_shape(request)
    _check_ray(request)
    _check_models(request)
    _check_listening(request)
    _check_config_models(request)


def _check_target(request: DeployRequest) -> None:
    if request.target not in TARGETS:
        raise InvalidParameterError(
            f"{request.target!r} is not a deployment target.",
            hint=f"Valid targets: {', '.join(TARGETS)}.",
        )
    if request.target == "lambda" and not request.bake:
        raise InvalidParameterError(
            "The lambda target needs --bake: a Lambda function has no disk that outlives a cold "
            "start, so a model fetched from storage would be downloaded on every cold start.",
            hint="Pass --bake with a model file or a registered model.",
        )
    if request.target == "lambda" and request.gpu:
        raise InvalidParameterError(
            "The lambda target cannot use --gpu: AWS Lambda has no GPUs.",
            hint="Deploy to kubernetes, kserve or cloudrun with --gpu instead.",
        )


def _check_shape(request: DeployRequest) -> None:
    if not _APP_NAME.fullmatch(request.name):
        raise InvalidParameterError(
            f"--name {request.name!r} cannot name the deployment's resources.",
            hint="Use lowercase letters, digits and '-', starting with a letter, at most 63.",
        )
    if not 0 < request.port < 65536:
        raise InvalidParameterError(f"--port must be in [1, 65535]. Got {request.port} instead.")
    if request.min_replicas < 1 or request.max_replicas < request.min_replicas:
        raise InvalidParameterError(
            "--replicas must be at least 1 and --max-replicas at least --replicas. Got "
            f"{request.min_replicas} and {request.max_replicas} instead."
        )
    if request.install not in ("auto", "checkout", "release"):
        raise InvalidParameterError(
            f"--install must be auto, checkout or release. Got {request.install!r} instead."
        )
    if request.cache not in ("emptydir", "pvc"):
        raise InvalidParameterError(
            f"--cache must be emptydir or pvc. Got {request.cache!r} instead."
        )


_RAYSERVICE_NAME_MAX = 47
"""KubeRay's limit: the RayCluster it makes is the name plus a 6-character suffix."""


def _check_ray(request: DeployRequest) -> None:
    if request.target != "rayservice":
        return
    if len(request.name) > _RAYSERVICE_NAME_MAX:
        raise InvalidParameterError(
            f"--name {request.name!r} is {len(request.name)} characters; KubeRay accepts a "
            f"RayService name of at most {_RAYSERVICE_NAME_MAX} (its RayCluster adds a suffix).",
            hint="Choose a shorter --name.",
        )
    gpus = request.settings.ray.replica_gpus
    if request.gpu and gpus == 0:
        raise InvalidParameterError(
            "--gpu builds a CUDA image, but [ray] replica_gpus is 0: Ray gives a replica only "
            "the GPUs it reserves, so no replica would use one.",
            hint="Set replica_gpus = 1 under [ray] in the config given with --config.",
        )
    if gpus > 0 and not request.gpu:
        raise InvalidParameterError(
            f"[ray] replica_gpus = {gpus:g} asks a GPU for each replica, but the image is the "
            "CPU one (no CUDA, ONNX Runtime's CPU build).",
            hint="Pass --gpu, or set replica_gpus = 0.",
        )


def _check_models(request: DeployRequest) -> None:
    seen: set[str] = set()
    uris = 0
    for model in request.models:
        if not _MODEL_NAME.fullmatch(model.name):
            raise InvalidParameterError(
                f"{model.name!r} is not a valid model name.",
                hint="Use letters, digits, '.', '_' and '-', starting with a letter or digit.",
            )
        if model.name in seen:
            raise InvalidParameterError(f"The model name {model.name!r} is given twice.")
        seen.add(model.name)
        if (model.uri is None) == (model.file is None):
            raise InvalidParameterError(
                f"Model {model.name!r} needs exactly one of a storage URI and a local file."
            )
        if model.uri is not None and not is_storage_uri(model.uri):
            raise InvalidParameterError(
                f"Model {model.name!r} is at {model.uri}, which the server cannot fetch at "
                "start: it reads object storage (s3://, gs://, az://, abfs://, file://).",
                hint="Pull it (localvision models pull URL) and --bake the registered model.",
            )
        if request.bake and model.uri is not None:
            raise InvalidParameterError(
                f"--bake copies a model file into the image, but {model.name!r} is at "
                f"{model.uri}, not on this machine.",
                hint=f"Pull it first (localvision models pull {model.uri} --name {model.name}) "
                "and bake the registered model, or drop --bake to fetch it at start.",
            )
        if not request.bake and model.file is not None:
            raise InvalidParameterError(
                f"Model {model.name!r} is a file on this machine ({model.file}), which the "
                "container cannot read.",
                hint="Pass --bake to copy it into the image, or push it to storage (localvision "
                "models push NAME URI) and deploy its URI.",
            )
        uris += model.uri is not None
    if request.target == "kserve":
        if not request.models:
            raise InvalidParameterError(
                "The kserve target needs a model: an InferenceService serves at least one.",
                hint="Pass --model NAME=URI (or a file with --bake).",
            )
        if uris > 1:
            raise InvalidParameterError(
                "KServe's storage initializer fetches one storageUri per InferenceService; "
                f"{uris} models here come from storage.",
                hint="Render one InferenceService per model (--name), or bake the others.",
            )
        for model in request.models:
            last = (model.uri or "").rstrip("/").rsplit("/", 1)[-1]
            if model.uri is not None and not last.isdigit():
                raise InvalidParameterError(
                    f"Model {model.name!r} is at {model.uri}, a model folder: KServe's storage "
                    "initializer would copy every version in it.",
                    hint=f"Name one version folder, e.g. --model {model.name}="
                    f"{model.uri.rstrip('/')}/3 (what localvision models push printed).",
                )


def _check_listening(request: DeployRequest) -> None:
    if request.target != "lambda" and is_loopback(request.host):
        raise InvalidParameterError(
            f"A container listening on {request.host} cannot be reached from outside it.",
            hint="Leave --host at 0.0.0.0 (the container's own network is what it exposes).",
        )
    settings = request.settings
    # A Function URL answers whoever has it, whatever --host says.
    host = "0.0.0.0" if request.target == "lambda" else request.host
    server = settings.server.model_copy(
        update={"host": host, "insecure": request.insecure or settings.server.insecure}
    )
    check_exposure(settings.model_copy(update={"server": server}))


def _check_config_models(request: DeployRequest) -> None:
    """The config's own models and features must be ones the container can reach."""
    given = {model.name for model in request.models}
    settings = request.settings
    if request.target == "lambda" and settings.models:
        raise ConfigError(
            f"The config has [models] ({', '.join(settings.models)}); the lambda image's config "
            "names only the models baked into it.",
            hint="Remove [models] from the config you deploy and name each model with --model.",
        )
    for name, model in settings.models.items():
        if name in given:
            continue  # --model NAME=... replaces it, as it does for localvision serve
        if not is_uri(model.path):
            raise ConfigError(
                f"The config serves [models.{name}] from {model.path}, a path on this machine "
                "that the container will not have.",
                hint=f"Pass --model {name}=... (a storage URI, or a file with --bake) to replace "
                "it, or remove it from the config you deploy.",
            )
    served = given | set(settings.models)
    for feature, name in settings.features.items():
        if name not in served:
            raise ConfigError(
                f"The config's [features] {feature} = {name!r} names a model the container "
                "will not have (a registered model lives in this machine's registry).",
                hint=f"Pass --model {name} --bake to copy it into the image.",
            )


def is_uri(text: str) -> bool:
    """True when ``text`` has a URI scheme (``s3://...``), false for a path."""
    return URI_SCHEME.match(text) is not None
