"""The ``localvision.toml`` a RayService's application reads, split at its credentials.

On Ray Serve the application builder (``localvision.scale.ray_serve:build``) reads one config
file, so the models go into it: the config given with ``--config`` (its settings as written,
not the defaults) with each ``--model`` as a ``[models.NAME]`` table. It is then cut in two:

* ``localvision.toml`` for a ConfigMap: models, features, ``[ray]``, ``[storage]``, limits;
  nothing in it is a secret, so it can be read, diffed and reviewed like the manifests;
* ``credentials.toml`` for a Secret: the ``[server]`` table (API key hashes, the SigV4 secret
  keys of ``aws_credentials``) and the ``[cloud]`` table (providers' keys).

Each pod joins them, in that order, into the one file the builder reads (the second holds only
tables, so TOML reads the two as one document). Both are written here and read back joined as
:class:`~localvision.config.Settings` before anything is rendered, so a config that would not
load on the cluster fails now.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import ConfigError, InvalidParameterError
from .plan import Plan
from .toml_text import toml_document

__all__ = ["SECRET_SECTIONS", "RayConfig", "joined", "ray_config"]

SECRET_SECTIONS = ("server", "cloud")
"""The config's tables that hold credentials: they go to the Secret, the rest to the
ConfigMap."""


@dataclass(frozen=True)
class RayConfig:
    """The two parts of the RayService's ``localvision.toml``."""

    public: str
    """For the ConfigMap: everything but :data:`SECRET_SECTIONS`."""
    credentials: str | None
    """For the Secret: :data:`SECRET_SECTIONS`; None when the config has neither table."""


def ray_config(plan: Plan) -> RayConfig:
    """The config for ``plan``'s RayService, cut at its credentials and checked to load."""
    settings = plan.request.settings
    # Only what the user set: the defaults stay defaults of the localvision that reads it.
    # The data home is the image's (LOCALVISION_HOME), not a path on this machine.
    data: dict[str, Any] = settings.model_dump(mode="json", exclude_unset=True, exclude={"home"})
    models = dict(data.get("models", {}))
    for model in plan.models:  # --model NAME=... replaces [models.NAME], as for serve
        models[model.name] = {"path": model.location}
    if models:
        data["models"] = models
    secret = {name: data.pop(name) for name in SECRET_SECTIONS if name in data}
    try:
        public = toml_document(data)
        credentials = toml_document(secret) if secret else None
    except InvalidParameterError as exc:
        raise ConfigError(
            f"The RayService's localvision.toml cannot be written: {exc}",
            hint="Check the config given with --config.",
        ) from None
    header = (
        f"# localvision.toml of the RayService {plan.request.name}, written by "
        "`localvision deploy render rayservice`.\n"
        + (
            "# The [server] and [cloud] tables (credentials) are in the Secret beside it; each\n"
            "# pod appends them to this file when it starts.\n"
            if credentials is not None
            else ""
        )
    )
    config = RayConfig(public=header + ("\n" + public if public else ""), credentials=credentials)
    try:
        Settings.model_validate(tomllib.loads(joined(config)))
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(
            f"The RayService's localvision.toml would not load: {exc}",
            hint="Check the config given with --config.",
        ) from None
    return config


def joined(config: RayConfig) -> str:
    """The file the application reads: the ConfigMap's part, then the Secret's (what each pod's
    init container writes)."""
    if config.credentials is None:
        return config.public
    return config.public + "\n" + config.credentials
