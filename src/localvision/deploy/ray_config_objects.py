"""The Kubernetes objects that carry a RayService's config into its pods.

:mod:`.ray_config` writes the two parts of ``localvision.toml``; here they become a ConfigMap
and a Secret, each named after a hash of its content (as kustomize's generators do) and
immutable, so that a new config is a new name in the RayService (a new cluster, see
:mod:`.rayservice`) while an old cluster keeps its own until it is deleted. Every Ray pod runs
an init container that joins the two into an in-memory volume, exactly as
:func:`~.ray_config.joined` does, and checks that localvision loads the result: a config that
would not load stops the pod with its message instead of failing the application later.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Any

from .kubernetes import labels
from .plan import CONFIG_PATH, Plan
from .ray_config import RayConfig
from .ray_image import container_security
from .yaml_text import Note

__all__ = [
    "config_init_container",
    "config_map",
    "config_mount",
    "config_volumes",
    "init_command",
    "secret",
]

_CONFIG_DIR = CONFIG_PATH.rsplit("/", 1)[0]
_PARTS = "/var/run/localvision"
"""Where the init container reads the ConfigMap and the Secret."""
_CONFIG_FILE = "localvision.toml"
_CREDENTIALS_FILE = "credentials.toml"


def init_command(config: RayConfig) -> str:
    """The init container's shell command: join the ConfigMap's and the Secret's parts into
    the file the application reads (as :func:`~.ray_config.joined` does), then load it."""
    part = shlex.quote(f"{_PARTS}/config/{_CONFIG_FILE}")
    target = shlex.quote(CONFIG_PATH)
    if config.credentials is None:
        join = f"cat {part} > {target}"
    else:
        credentials = shlex.quote(f"{_PARTS}/credentials/{_CREDENTIALS_FILE}")
        join = f"{{ cat {part}; echo; cat {credentials}; }} > {target}"
    check = f'python -c "from localvision.config import Settings; Settings.load({CONFIG_PATH!r})"'
    return f"set -eu; {join}; {check}"


def config_init_container(plan: Plan, config: RayConfig) -> Note:
    """The init container every Ray pod runs first: :func:`init_command` in the image."""
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": f"{_PARTS}/config", "readOnly": True},
    ]
    if config.credentials is not None:
        mounts.append(
            {"name": "credentials", "mountPath": f"{_PARTS}/credentials", "readOnly": True}
        )
    mounts.append({"name": "localvision-config", "mountPath": _CONFIG_DIR})
    return Note(
        "Joins the ConfigMap's localvision.toml and the Secret's credentials into the one "
        "file the application reads, and checks that it loads: a bad config stops here.",
        {
            "name": "localvision-config",
            "image": plan.image,
            "command": ["/bin/sh", "-c", init_command(config)],
            "resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"},
                "limits": {"memory": "256Mi"},
            },
            "securityContext": container_security(),
            "volumeMounts": mounts,
        },
    )


def config_mount() -> dict[str, Any]:
    """The Ray container's mount of the joined config (where ``args.config`` points)."""
    return {"name": "localvision-config", "mountPath": _CONFIG_DIR, "readOnly": True}


def config_volumes(plan: Plan, config: RayConfig) -> list[Any]:
    """The pod's volumes for the config: the joined file, the ConfigMap, the Secret."""
    volumes: list[Any] = [
        Note(
            "The joined config, in memory: the credentials never reach a disk.",
            {"name": "localvision-config", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        ),
        {"name": "config", "configMap": {"name": _config_map_name(plan, config)}},
    ]
    if config.credentials is not None:
        volumes.append(
            {
                "name": "credentials",
                "secret": {
                    "secretName": _secret_name(plan, config),
                    "defaultMode": Note("0440: Ray's group reads it, nobody writes.", 0o440),
                },
            }
        )
    return volumes


def config_map(plan: Plan, config: RayConfig) -> dict[str, Any]:
    """The ConfigMap holding ``localvision.toml`` without its credentials."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": _config_map_name(plan, config), "labels": labels(plan)},
        "immutable": Note(
            "Named after its content: a changed config is a new ConfigMap (and a new cluster).",
            True,
        ),
        "data": {_CONFIG_FILE: config.public},
    }


def secret(plan: Plan, config: RayConfig) -> dict[str, Any]:
    """The Secret holding ``credentials.toml``: the config's [server] and [cloud] tables."""
    assert config.credentials is not None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": _secret_name(plan, config), "labels": labels(plan)},
        "type": "Opaque",
        "immutable": True,
        "stringData": {_CREDENTIALS_FILE: config.credentials},
    }


def _config_map_name(plan: Plan, config: RayConfig) -> str:
    return f"{plan.request.name}-config-{_digest(config.public)}"


def _secret_name(plan: Plan, config: RayConfig) -> str:
    assert config.credentials is not None
    return f"{plan.request.name}-credentials-{_digest(config.credentials)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
