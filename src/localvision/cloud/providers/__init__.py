"""Cloud providers: Annotators that send images out, each through its protocol's wire adapter,
only when the configuration allows it, and always recorded in the audit log."""

from __future__ import annotations

from ...config import Settings
from ...errors import ProviderError
from .base import CloudProvider, provider_config

__all__ = ["CloudProvider", "configured", "open_provider", "provider_config"]


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
