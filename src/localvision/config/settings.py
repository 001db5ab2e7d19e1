"""Configuration: one typed object, read once and passed down.

Sources, later ones winning: built-in defaults, ``localvision.toml`` (the path given, else
``$LOCALVISION_CONFIG``, else ``./localvision.toml`` when present), then ``LOCALVISION_*``
environment variables for the top-level scalar settings (``LOCALVISION_HOME``,
``LOCALVISION_MAX_IMAGE_BYTES``, ``LOCALVISION_PROVIDERS=cuda,cpu``, ...).

Nothing here runs at import time; :meth:`Settings.load` is called by the CLI or by the user.

Example ``localvision.toml``::

    home = "/srv/localvision"
    max_image_pixels = 50_000_000
    threads = 4

    [models.mobilenet]
    path = "models/mobilenet_v2_1.0_224_quant.tflite"

    [models.pets]
    path = "s3://models/pets/3/"    # a storage URI: cached under the home, checksum verified

    [features]
    labels = "mobilenet"

    [storage]                       # see localvision.config.storage
    allow = ["s3://photos"]
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigError
from .checked import Checked, failed_check, message_of
from .cloud import CloudSettings
from .ray import RaySettings
from .storage import StorageSettings

__all__ = ["CONFIG_FILE_NAME", "ModelConfig", "ServerSettings", "Settings", "default_home"]

CONFIG_FILE_NAME = "localvision.toml"
_SECTIONS = ("models", "features", "server", "cloud", "storage", "ray")
"""Settings that are tables, not scalars: no ``LOCALVISION_*`` variable sets them whole."""
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """The data home: ``$LOCALVISION_HOME``, else ``~/.localvision``."""
    env = os.environ if environ is None else environ
    value = env.get("LOCALVISION_HOME")
    return Path(value).expanduser() if value else Path.home() / ".localvision"


class ModelConfig(BaseModel):
    """A model named in config: where it is, and card fields that override what is inferred."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        description="The model file (relative to the config file), or a storage URI of a "
        "version folder that 'localvision models push' wrote (s3://bucket/models/pets/3/): "
        "downloaded once into the cache, verified, its card and labels from its manifest."
    )
    labels: str | None = None
    card: dict[str, Any] = Field(default_factory=dict)
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="For a storage URI: the model's SHA-256, pinned; a manifest naming other "
        "bytes is refused (the manifest sits in the same bucket as the model).",
    )


class ServerSettings(BaseModel):
    """``[server]`` in localvision.toml: how ``localvision serve`` listens and sheds load."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    grpc_port: int | None = Field(None, ge=0, le=65535)
    max_body_bytes: int = Field(40 * 1024 * 1024, gt=0, description="Largest request body.")
    workers: int = Field(
        2,
        gt=0,
        le=64,
        description="Batches the engine runs at once: with two, one decodes while the other "
        "runs the model.",
    )
    max_batch_size: int = Field(16, gt=0, le=1024, description="Most images merged in one batch.")
    max_queue_delay_ms: float = Field(
        0.0, ge=0, le=1000, description="How long an idle engine waits to fill a batch."
    )
    max_queue: int = Field(
        64, ge=0, description="Images waiting (all requests together) before new ones are shed."
    )
    request_timeout_s: float = Field(30.0, gt=0, description="Longest a request may wait + run.")
    reload_interval_s: float = Field(
        2.0, ge=0, description="How often registry aliases of served models are checked (0: never)."
    )
    allow_private_urls: bool = Field(
        False, description="Let imageUri fetch loopback, private and link-local addresses."
    )
    url_timeout_s: float = Field(10.0, gt=0, description="Time limit for fetching an imageUri.")
    private_keys: list[str] = Field(
        default_factory=list,
        description="API keys (as 'sha256:<hex>') or AWS access key ids whose images never "
        "leave this machine, whatever the router's routes say.",
    )
    api_keys: list[str] = Field(
        default_factory=list,
        description="Accepted API keys, as 'sha256:<hex>': every route but health and readiness "
        "(the AWS route too, unless aws_credentials is set).",
    )
    read_only_keys: list[str] = Field(
        default_factory=list,
        description="API keys (as 'sha256:<hex>', listed in api_keys too) whose console "
        "sessions may look but not promote or roll back models.",
    )
    console_session_s: float = Field(
        8 * 3600.0, gt=0, description="How long a web console login lasts before it expires."
    )
    aws_credentials: dict[str, str] = Field(
        default_factory=dict, description="Access key id -> secret key, for SigV4 on the AWS route."
    )
    insecure: bool = Field(False, description="Listen beyond loopback without credentials.")
    public_paths: list[str] = Field(
        default_factory=list,
        description="Paths answered without credentials when credentials are configured, "
        "from '/metrics', '/docs' (with '/openapi.json'); health and readiness always are.",
    )
    aws_region: str = Field(
        "us-east-1", min_length=1, description="The region SigV4 credential scopes must name."
    )
    allow_unsigned_payload: bool = Field(
        False,
        description="Accept SigV4 requests whose X-Amz-Content-Sha256 is UNSIGNED-PAYLOAD "
        "(the signature then does not cover the body).",
    )
    max_images_per_request: int = Field(
        64,
        gt=0,
        le=1024,
        description="Most images in one native or Open Inference request (Google's API caps "
        "its own at 16, Rekognition's at 1).",
    )
    max_connections: int = Field(
        512, gt=0, description="Open connections at once; more are answered 503 at once."
    )
    read_timeout_s: float = Field(
        30.0, gt=0, description="Longest a client may take to send a request's headers and body."
    )
    keep_alive_s: float = Field(5.0, gt=0, description="How long an idle connection stays open.")


class Settings(Checked):
    """Every setting localvision reads. Build it with :meth:`load`, or directly in code."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    home: Path = Field(default_factory=lambda: default_home())
    max_image_bytes: int = Field(20 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(50_000_000, gt=0)
    threads: int | None = Field(None, gt=0, description="Intra-op threads for each model.")
    spin: bool = Field(
        False,
        description="Let ONNX Runtime's threads busy-wait between runs: a little lower latency "
        "on an idle machine, at the cost of CPU the image work and other requests need.",
    )
    providers: list[str] | None = Field(
        None, description="ONNX Runtime execution providers, in order of preference."
    )
    io_binding: bool = Field(
        False,
        description="Run ONNX models through ONNX Runtime's I/O binding (outputs allocated on "
        "the model's device); off until a gain is measured (benchmarks/gpu.py).",
    )
    batch_size: int = Field(16, gt=0, le=1024, description="Most images run in one batch.")
    decode_workers: int | None = Field(None, gt=0, description="Threads decoding images.")
    allow_pickle: bool = Field(False, description="Load pickled PyTorch models (runs code).")
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    features: dict[str, str] = Field(default_factory=dict)
    server: ServerSettings = Field(default_factory=ServerSettings)
    cloud: CloudSettings = Field(default_factory=CloudSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    ray: RaySettings = Field(default_factory=RaySettings)

    @field_validator("providers", mode="before")
    @classmethod
    def _split_providers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @property
    def cache_dir(self) -> Path:
        """Where converted models and other derived files live."""
        return self.home / "cache"

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Read the config file and environment, then apply ``overrides`` (e.g. from the CLI).

        Overrides whose value is ``None`` are ignored, so CLI options left unset do not
        replace configured values.
        """
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        file = _config_file(path, env)
        if file is not None:
            data.update(_read_toml(file))
        data.setdefault("home", str(default_home(env)))
        for name in cls.model_fields:
            key = f"LOCALVISION_{name.upper()}"
            if key in env and name not in _SECTIONS:
                data[name] = env[key]
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _config_error(exc, file) from exc


def _config_error(exc: ValidationError, file: Path | None) -> ConfigError:
    """One ConfigError for what pydantic found: a failed settings check keeps its own message
    (the same as when the section is built in code); other problems are listed by place."""
    where = f" in {file}" if file else ""
    found = failed_check(exc)
    if found is not None:
        hint = found.hint or (f"Fix it in {file}." if file else None)
        return ConfigError(found.message, hint=hint)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {message_of(err)}" for err in exc.errors()
    )
    return ConfigError(
        f"Invalid configuration{where}: {problems}.",
        hint="Fix the value in localvision.toml or the LOCALVISION_* variable.",
    )


def _config_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"Config file {file} does not exist.")
        return file
    if env.get("LOCALVISION_CONFIG"):
        return _config_file(env["LOCALVISION_CONFIG"], {})
    local = Path(CONFIG_FILE_NAME)
    return local if local.is_file() else None


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {file} is not valid TOML: {exc}.") from exc
    base = file.parent
    # Relative model paths in a config file are relative to that file, not to the cwd; a URI
    # (s3://bucket/models/pets/3/) is no path at all and stays as written.
    for model in data.get("models", {}).values():
        if isinstance(model, dict):
            for key in ("path", "labels"):
                value = model.get(key)
                if not isinstance(value, str) or _URI.match(value):
                    continue
                if not Path(value).is_absolute():
                    model[key] = str(base / value)
    return data
