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
import re
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
from pydantic_core import ErrorDetails

from .errors import ConfigError
from .types import Feature

__all__ = [
    "LOCAL_ROUTE",
    "PRIVACY_CHECKS",
    "REDACTABLE",
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

LOCAL_ROUTE = "local"
"""The route that always answers: the local engine. Only the last of a chain."""
PRIVACY_CHECKS = frozenset({"caller", "gps", "faces", "text"})
"""The router's privacy checks (:mod:`localvision.cloud.privacy` runs them). They live here,
with the other settings' vocabulary, so that ``[cloud.router]`` is checked when it is read."""
REDACTABLE = frozenset({"faces", "text"})
"""What :mod:`localvision.cloud.redaction` can blur before an image leaves."""


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """The data home: ``$LOCALVISION_HOME``, else ``~/.localvision``."""
    env = os.environ if environ is None else environ
    value = env.get("LOCALVISION_HOME")
    return Path(value).expanduser() if value else Path.home() / ".localvision"


class _Checked(BaseModel):
    """Base of the sections whose validators check one setting against another.

    Those checks raise :class:`ConfigError`, which pydantic wraps in a ``ValidationError``;
    built directly in code (``RouterSettings(routes=...)``), such a section raises the
    ConfigError itself, with its own message, as :meth:`Settings.load` does.
    """

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            found = _failed_check(exc)
            if found is None:
                raise
            raise found from exc


def _failed_check(exc: ValidationError) -> ConfigError | None:
    """The ConfigError a settings check raised, when it is all that is wrong in ``exc``."""
    errors = exc.errors()
    if len(errors) != 1:
        return None
    found = errors[0].get("ctx", {}).get("error")
    return found if isinstance(found, ConfigError) else None


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


class RouterSettings(_Checked):
    """``[cloud.router]``: which annotator answers which feature, and the policies that may
    keep a request local.

    ``routes`` maps a feature to its routes in order (``"local"`` or a provider name); a
    feature without a route is answered locally. Everything that can be checked without the
    providers themselves (features, route order, budgets and redactions naming routes, privacy
    checks, patterns) is checked here, so a contradiction fails when the config is read; the
    router checks the names against the providers it opens when it is built.
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

    @property
    def named_providers(self) -> frozenset[str]:
        """Every cloud provider a route, the shadow or the burst names."""
        named = {name for chain in self.routes.values() for name in chain}
        named.update(name for name in (self.shadow, self.burst) if name is not None)
        return frozenset(named - {LOCAL_ROUTE})

    def feature_routes(self) -> dict[Feature, list[str]]:
        """``routes`` keyed by feature (names and aliases read as :meth:`Feature.parse` does)."""
        return {Feature.parse(name): list(chain) for name, chain in self.routes.items()}

    @model_validator(mode="after")
    def _consistent(self) -> RouterSettings:
        """Refuse contradictions, in the order (and with the messages) the router used."""
        _check_routes(self.routes)
        if self.burst == LOCAL_ROUTE:
            raise ConfigError("[cloud.router] burst must name a cloud provider, not 'local'.")
        named = self.named_providers
        _check_budgets(self.budgets, named)
        _check_redact(self.redact, named)
        _check_privacy(self.privacy, self.patterns)
        return self


def _check_routes(routes: Mapping[str, list[str]]) -> None:
    """Each key is a feature; each chain names each route once, ``local`` only last."""
    for name, chain in routes.items():
        try:
            Feature.parse(name)
        except ValueError as exc:
            raise ConfigError(f"[cloud.router] routes: {exc}") from exc
        if not chain or len(set(chain)) != len(chain):
            raise ConfigError(f"[cloud.router] routes.{name} must list each route once: {chain}.")
        if LOCAL_ROUTE in chain[:-1]:
            raise ConfigError(
                f"[cloud.router] routes.{name}: {LOCAL_ROUTE!r} always answers, so routes after "
                "it would never be tried; put it last."
            )


def _check_budgets(budgets: Mapping[str, float], named: frozenset[str]) -> None:
    """Budget keys are ``provider`` or ``provider/feature``, for providers a route uses."""
    for key in budgets:
        _, _, feature = key.partition("/")
        if feature:
            try:
                Feature.parse(feature)
            except ValueError as exc:
                raise ConfigError(f"[cloud.router] budgets.{key!r}: {exc}") from exc
    unknown = {key for key in budgets if key.partition("/")[0] not in named}
    if unknown:
        raise ConfigError(
            f"[cloud.router] budgets name providers no route uses: {sorted(unknown)}."
        )


def _check_redact(redact: Mapping[str, list[str]], named: frozenset[str]) -> None:
    """Redactions are for providers a route uses, and only of what can be blurred."""
    for name, what in redact.items():
        if name not in named:
            raise ConfigError(f"[cloud.router] redact names a provider no route uses: {name}.")
        if set(what) - REDACTABLE:
            raise ConfigError(
                f"[cloud.router] redact.{name}: {sorted(set(what) - REDACTABLE)} cannot be "
                f"redacted; choose from {sorted(REDACTABLE)}."
            )


def _check_privacy(privacy: list[str], patterns: list[str]) -> None:
    """Only known privacy checks, and personal-data patterns that compile."""
    bad_checks = set(privacy) - PRIVACY_CHECKS
    if bad_checks:
        raise ConfigError(
            f"Unknown privacy checks {sorted(bad_checks)}; the checks are {sorted(PRIVACY_CHECKS)}."
        )
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"A privacy pattern does not compile: {exc}.") from exc


class AzureProviderSettings(BaseModel):
    """``[cloud.azure]``: Azure AI Vision Image Analysis 4.0 over REST (endpoint and key)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    key: str
    api_version: str = "2023-10-01"
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(3, ge=0, le=10)


class CloudSettings(_Checked):
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


class Settings(_Checked):
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
            raise _config_error(exc, file) from exc


def _config_error(exc: ValidationError, file: Path | None) -> ConfigError:
    """One ConfigError for what pydantic found: a failed settings check keeps its own message
    (the same as when the section is built in code); other problems are listed by place."""
    where = f" in {file}" if file else ""
    found = _failed_check(exc)
    if found is not None:
        hint = found.hint or (f"Fix it in {file}." if file else None)
        return ConfigError(found.message, hint=hint)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {_message(err)}" for err in exc.errors()
    )
    return ConfigError(
        f"Invalid configuration{where}: {problems}.",
        hint="Fix the value in localvision.toml or the LOCALVISION_* variable.",
    )


def _message(error: ErrorDetails) -> str:
    """An error's text: a settings check's own message, else pydantic's."""
    found = error.get("ctx", {}).get("error")
    return found.message if isinstance(found, ConfigError) else str(error["msg"])


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
