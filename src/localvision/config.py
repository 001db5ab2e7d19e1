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

    [features]
    labels = "mobilenet"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError

__all__ = [
    "AwsProviderSettings",
    "AzureProviderSettings",
    "CloudSettings",
    "GoogleProviderSettings",
    "ModelConfig",
    "RouterSettings",
    "ServerSettings",
    "Settings",
    "default_home",
]

CONFIG_FILE_NAME = "localvision.toml"


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """The data home: ``$LOCALVISION_HOME``, else ``~/.localvision``."""
    env = os.environ if environ is None else environ
    value = env.get("LOCALVISION_HOME")
    return Path(value).expanduser() if value else Path.home() / ".localvision"


class ModelConfig(BaseModel):
    """A model named in config: where it is, and card fields that override what is inferred."""

    model_config = ConfigDict(extra="forbid")

    path: str
    labels: str | None = None
    card: dict[str, Any] = Field(default_factory=dict)


class ServerSettings(BaseModel):
    """``[server]`` in localvision.toml: how ``localvision serve`` listens and sheds load."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    grpc_port: int | None = Field(None, ge=0, le=65535)
    max_body_bytes: int = Field(40 * 1024 * 1024, gt=0, description="Largest request body.")
    workers: int = Field(1, gt=0, le=64, description="Batches the engine runs at once.")
    max_batch_size: int = Field(16, gt=0, le=1024, description="Most images merged in one batch.")
    max_queue_delay_ms: float = Field(
        0.0, ge=0, le=1000, description="How long an idle engine waits to fill a batch."
    )
    max_queue: int = Field(64, ge=0, description="Requests waiting before new ones are shed.")
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
        description="Accepted API keys for the Google and native routes, as 'sha256:<hex>'.",
    )
    aws_credentials: dict[str, str] = Field(
        default_factory=dict, description="Access key id -> secret key, for SigV4 on the AWS route."
    )
    insecure: bool = Field(False, description="Listen beyond loopback without credentials.")


class GoogleProviderSettings(BaseModel):
    """``[cloud.google]``: Google Cloud Vision over REST, with an API key or a service
    account's JSON key file (OAuth 2.0 through google-auth); exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = None
    credentials_file: str | None = None
    endpoint: str = "https://vision.googleapis.com"
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(3, ge=0, le=10)

    @model_validator(mode="after")
    def _one_credential(self) -> GoogleProviderSettings:
        if (self.api_key is None) == (self.credentials_file is None):
            raise ValueError("[cloud.google] needs exactly one of api_key and credentials_file")
        return self


class AwsProviderSettings(BaseModel):
    """``[cloud.aws]``: AWS Rekognition through boto3 (its standard credential chain unless
    keys are given)."""

    model_config = ConfigDict(extra="forbid")

    region: str = "us-east-1"
    endpoint: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(3, ge=0, le=10)


class RouterSettings(BaseModel):
    """``[cloud.router]``: which annotator answers which feature, and the policies that may
    keep a request local.

    ``routes`` maps a feature to its routes in order (``"local"`` or a provider name); a
    feature without a route is answered locally. The router checks the names against the
    configured providers when it is built, so a contradiction fails at start-up.
    """

    model_config = ConfigDict(extra="forbid")

    routes: dict[str, list[str]] = Field(default_factory=dict)
    privacy: list[str] = Field(default_factory=lambda: ["caller", "gps", "faces", "text"])
    patterns: list[str] = Field(default_factory=list)
    private: str = Field("local", pattern="^(local|refuse)$")
    budgets: dict[str, float] = Field(default_factory=dict)
    over_budget: str = Field("local", pattern="^(local|refuse)$")
    key_budgets: dict[str, float] = Field(default_factory=dict)
    """USD a month per caller key id (``sha256:<hex>`` of an API key, or an AWS access key id),
    across providers, at list price."""
    cooldown_s: float = Field(60.0, ge=0)
    failures_to_cool: int = Field(3, ge=1)
    redact: dict[str, list[str]] = Field(default_factory=dict)
    """Per provider, what to blur before sending (``faces``, ``text``)."""
    shadow: str | None = None
    """A route (``"local"`` or a provider) asked for a second opinion in the background."""
    shadow_fraction: float = Field(0.0, ge=0.0, le=1.0)
    burst: str | None = None
    """A provider that takes local work while more than ``burst_queue`` requests wait."""
    burst_queue: int = Field(8, ge=0)


class AzureProviderSettings(BaseModel):
    """``[cloud.azure]``: Azure AI Vision Image Analysis 4.0 over REST (endpoint and key)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    key: str
    api_version: str = "2023-10-01"
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(3, ge=0, le=10)


class CloudSettings(BaseModel):
    """``[cloud]``: whether anything may leave the machine, and the providers configured.

    ``egress = "deny"`` (the default) makes cloud providers impossible to construct.
    """

    model_config = ConfigDict(extra="forbid")

    egress: str = Field("deny", pattern="^(deny|allow)$")
    google: GoogleProviderSettings | None = None
    aws: AwsProviderSettings | None = None
    azure: AzureProviderSettings | None = None
    audit_retention_days: float | None = Field(400.0, gt=0)
    """Audit records older than this are dropped (None: kept for ever)."""
    router: RouterSettings = Field(default_factory=RouterSettings)


class Settings(BaseModel):
    """Every setting localvision reads. Build it with :meth:`load`, or directly in code."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    home: Path = Field(default_factory=lambda: default_home())
    max_image_bytes: int = Field(20 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(50_000_000, gt=0)
    threads: int | None = Field(None, gt=0, description="Intra-op threads for each model.")
    providers: list[str] | None = Field(
        None, description="ONNX Runtime execution providers, in order of preference."
    )
    batch_size: int = Field(16, gt=0, le=1024, description="Most images run in one batch.")
    decode_workers: int | None = Field(None, gt=0, description="Threads decoding images.")
    allow_pickle: bool = Field(False, description="Load pickled PyTorch models (runs code).")
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    features: dict[str, str] = Field(default_factory=dict)
    server: ServerSettings = Field(default_factory=ServerSettings)
    cloud: CloudSettings = Field(default_factory=CloudSettings)

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
            if key in env and name not in ("models", "features", "server", "cloud"):
                data[name] = env[key]
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            where = f" in {file}" if file else ""
            raise ConfigError(
                f"Invalid configuration{where}: {problems}.",
                hint="Fix the value in localvision.toml or the LOCALVISION_* variable.",
            ) from exc


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
    # Relative model paths in a config file are relative to that file, not to the cwd.
    for model in data.get("models", {}).values():
        if isinstance(model, dict):
            for key in ("path", "labels"):
                if isinstance(model.get(key), str) and not Path(model[key]).is_absolute():
                    model[key] = str(base / model[key])
    return data
