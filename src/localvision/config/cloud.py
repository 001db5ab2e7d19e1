"""``[cloud]``: whether anything may leave the machine, the providers, and the router's policies.

Everything about ``[cloud.router]`` that can be checked without opening a provider (features,
route order, budgets and redactions naming routes, privacy checks, patterns) is checked here,
so a contradiction fails when the configuration is read, not when the first image arrives. The
vocabulary those checks need (:data:`PRIVACY_CHECKS`, :data:`REDACTABLE`) lives here so that the
core does not import the cloud side; :mod:`localvision.cloud` uses the same sets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import ConfigError
from ..types import Feature
from .checked import Checked

__all__ = [
    "LOCAL_ROUTE",
    "PRIVACY_CHECKS",
    "REDACTABLE",
    "AwsProviderSettings",
    "AzureProviderSettings",
    "CloudSettings",
    "GoogleProviderSettings",
    "RouterSettings",
]

LOCAL_ROUTE = "local"
"""The route that always answers: the local engine. Only the last of a chain."""
PRIVACY_CHECKS = frozenset({"caller", "gps", "faces", "text"})
"""The router's privacy checks (:mod:`localvision.cloud.privacy` runs them). They live here,
with the other settings' vocabulary, so that ``[cloud.router]`` is checked when it is read."""
REDACTABLE = frozenset({"faces", "text"})
"""What :mod:`localvision.cloud.redaction` can blur before an image leaves."""


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


class RouterSettings(Checked):
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


class CloudSettings(Checked):
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
