"""Configuration: one typed object, :class:`Settings`, read once and passed down.

``settings`` holds the object and how it is read (file, environment, defaults); ``cloud`` the
``[cloud]`` section and the router's checks; ``storage`` the ``[storage]`` section (model
cache policy, input buckets allowed); ``ray`` the ``[ray]`` section (batch and serving on Ray);
``checked`` the base that turns a failed check into a
:class:`~localvision.errors.ConfigError` with the user's message.
"""

from __future__ import annotations

from .cloud import (
    LOCAL_ROUTE,
    PRIVACY_CHECKS,
    REDACTABLE,
    AwsProviderSettings,
    AzureProviderSettings,
    CloudSettings,
    GoogleProviderSettings,
    RouterSettings,
)
from .ray import RayAutoscaling, RaySettings
from .settings import CONFIG_FILE_NAME, ModelConfig, ServerSettings, Settings, default_home
from .storage import INPUT_SCHEMES, StorageSettings

__all__ = [
    "CONFIG_FILE_NAME",
    "INPUT_SCHEMES",
    "LOCAL_ROUTE",
    "PRIVACY_CHECKS",
    "REDACTABLE",
    "AwsProviderSettings",
    "AzureProviderSettings",
    "CloudSettings",
    "GoogleProviderSettings",
    "ModelConfig",
    "RayAutoscaling",
    "RaySettings",
    "RouterSettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "default_home",
]
