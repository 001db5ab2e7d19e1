"""Cloud providers: Annotators that send images out, each through its protocol's wire adapter,
only when the configuration allows it, and always recorded in the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from ...config import Settings
from ...errors import ProviderError
from ...types import AnnotateRequest, AnnotateResult
from ..audit import require_egress

__all__ = ["CloudProvider", "configured", "open_provider", "provider_config"]

C = TypeVar("C")


class CloudProvider(Protocol):
    """What every provider offers: the engine's annotate shape, and a close."""

    name: str

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]: ...

    def close(self) -> None: ...


def configured(settings: Settings) -> list[str]:
    """The providers with a section in ``[cloud]`` (whether or not egress is allowed)."""
    return [
        name for name in ("google", "aws", "azure") if getattr(settings.cloud, name) is not None
    ]


def open_provider(name: str, settings: Settings) -> CloudProvider:
    """A provider by name; raises when it is unknown, unconfigured or egress is denied."""
    if name == "google":
        from .google import GoogleVisionProvider

        return GoogleVisionProvider(settings)
    if name == "aws":
        from .aws import RekognitionProvider

        return RekognitionProvider(settings)
    if name == "azure":
        from .azure import AzureVisionProvider

        return AzureVisionProvider(settings)
    raise ProviderError(
        f"Unknown cloud provider {name!r}.", hint="The providers are google, aws and azure."
    )


def provider_config(settings: Settings, name: str, vendor: str, config: C | None, needs: str) -> C:
    """The settings a provider runs with (``config``, else ``[cloud.<name>]``), after checking
    that egress is allowed: what every provider checks before it may exist."""
    require_egress(settings, name)
    found = config if config is not None else getattr(settings.cloud, name)
    if found is None:
        raise ProviderError(
            f"{vendor} is not configured.",
            hint=f"Add [cloud.{name}] ({needs}) to localvision.toml.",
        )
    chosen: C = found
    return chosen
