"""The ``compose`` target: the server image and a ``compose.yaml`` running it.

The data home is a named volume, so downloaded and converted models survive restarts and
re-creations of the container; the config holding credentials is a Compose secret (mounted
read-only from its file, never built into the image); the container's root file system is
read-only, as on Kubernetes.
"""

from __future__ import annotations

import os
from typing import Any

from .docker import add_server_image
from .output import RenderedFiles
from .plan import GRACE_S, HOME_DIR, Plan, credential_env
from .yaml_text import Note, dump

__all__ = ["render"]

_SECRET_TARGET = "/run/secrets/localvision.toml"


def render(plan: Plan) -> RenderedFiles:
    """``compose.yaml`` with the image's Dockerfile and build context."""
    files = RenderedFiles()
    add_server_image(
        plan, files, usage="Built and run by compose.yaml beside it: docker compose up --build"
    )
    files.add_text("compose.yaml", compose_file(plan))
    return files


def compose_file(plan: Plan) -> str:
    """The Compose file for ``plan`` (a Compose Specification document)."""
    name = plan.request.name
    service: dict[str, Any] = {
        "build": {"context": "."},
        "image": plan.image,
        "command": Note(
            "The image's CMD, repeated here: to serve another model version, change its URI "
            "and run `docker compose up -d` again.",
            plan.serve_args(),
        ),
        "ports": [f"{port}:{port}" for port in plan.ports.values()],
        "volumes": Note(
            "The data home: models fetched from storage are cached here once and reused by "
            "every restart.",
            [f"{name}-home:{HOME_DIR}"],
        ),
        "read_only": Note("The server writes only to the data home and /tmp.", True),
        "tmpfs": ["/tmp"],
        "restart": "unless-stopped",
        "stop_grace_period": Note(
            "Longer than the server's drain limit, so requests in flight finish on "
            "`docker compose down` or a redeploy.",
            f"{GRACE_S}s",
        ),
    }
    environment = _environment(plan)
    if environment:
        service["environment"] = environment
    if plan.uses_config:
        service["secrets"] = [{"source": f"{name}-config", "target": _SECRET_TARGET}]
    if plan.request.gpu:
        service["deploy"] = Note(
            "One NVIDIA GPU (needs the NVIDIA Container Toolkit on the host).",
            {
                "resources": {
                    "reservations": {
                        "devices": [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
                    }
                }
            },
        )
    document: dict[str, Any] = {
        "name": name,
        "services": {name: service},
        "volumes": {f"{name}-home": {}},
    }
    if plan.uses_config:
        config = plan.request.config_file
        assert config is not None
        document["secrets"] = Note(
            "Your localvision.toml with the [server] credentials (API keys, AWS keys), mounted "
            f"at {_SECRET_TARGET} as it is on disk: it must be readable by the server's uid "
            "10001 (e.g. sudo chown 10001 FILE && chmod 0400 FILE).",
            {f"{name}-config": {"file": _relative_to_out(config, plan)}},
        )
    header = (
        f"localvision {plan.install.version}, written by `localvision deploy render compose`.\n"
        "Start (builds the image from the Dockerfile here on first use):\n"
        "  docker compose up --build -d\n"
        f"Then: curl http://127.0.0.1:{plan.request.port}/readyz answers 200 once every model "
        "is loaded."
    )
    return dump(document, header=header)


def _environment(plan: Plan) -> Any:
    values = [f"LOCALVISION_CONFIG={_SECRET_TARGET}"] if plan.uses_config else []
    passed = credential_env(plan)
    if not passed:
        return values or None
    return Note(
        "Where the config is, and storage credentials passed from your shell when set (each "
        "store's own variables).",
        values + passed,
    )


def _relative_to_out(path: os.PathLike[str], plan: Plan) -> str:
    """The config's path as Compose reads it: relative to the output folder when possible."""
    out = plan.request.out_dir
    if out is None:
        return os.fspath(path)
    try:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(out))
    except ValueError:  # another drive (Windows)
        return os.path.abspath(path)
