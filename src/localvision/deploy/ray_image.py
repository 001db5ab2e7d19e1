"""The image a RayService runs: Ray's own image with localvision installed into it.

KubeRay starts ``ray start`` in every pod and Ray Serve imports the application from the
image, so the image is Ray's (``rayproject/ray``, with Ray, its Python and its user) plus
localvision with the ``ray`` extra and the extras the models need (:mod:`.extras`). Its Ray
release is the one the ``ray`` extra pins (:func:`ray_version`): head, workers and the
installed package then agree, and KubeRay's ``rayVersion`` names the same release.

* It runs as the Ray image's own unprivileged user (uid 1000, gid 100), named by number so
  that Kubernetes can check ``runAsNonRoot``; pip installs into that user's Python.
* From a checkout, a first stage builds localvision's wheel from the copied source, and the
  image installs it through a build mount: neither the source nor the wheel stays in a layer.
* ``--gpu``: Ray's CUDA image, with ONNX Runtime's CUDA build in place of its CPU one.
* ``--bake``: the model files copied in, owned by root (the server reads, never writes them).

The security contexts that run the image (its user, no privilege escalation) are here too.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from typing import Any

from ..errors import InvalidParameterError
from .context import MODELS, SOURCE, wheel_name
from .docker import comment_block, comment_paragraph, onnxruntime_gpu_lines
from .plan import Install, Plan
from .yaml_text import Note

__all__ = [
    "RAY_GID",
    "RAY_HOME",
    "RAY_PYTHON",
    "RAY_UID",
    "base_image",
    "container_security",
    "pod_security",
    "ray_dockerfile",
    "ray_version",
]

RAY_PYTHON = "py311"
"""The Python of Ray's image: the one localvision is tested on."""
RAY_UID = 1000
RAY_GID = 100
"""The ``ray`` user of Ray's images (its group is ``users``)."""
RAY_HOME = "/home/ray/.localvision"
"""``LOCALVISION_HOME`` in the image: in the Ray user's home, which it may write."""
_WHEELS = "/tmp/wheels"
_PIN = re.compile(r"^\s*ray(\[[^\]]*\])?\s*==\s*([0-9][0-9A-Za-z.+!-]*)\s*(;.*)?$")
_RAY_EXTRA = re.compile(r"""extra\s*==\s*["']ray["']""")


def ray_version(install: Install) -> str:
    """The Ray release localvision's ``ray`` extra pins: from the checkout's ``pyproject.toml``
    when the image builds from it, else from the installed package's metadata (the release
    the image installs is this one)."""
    if install.source is not None:
        with (install.source / "pyproject.toml").open("rb") as fh:
            project = tomllib.load(fh)["project"]
        pins = [p for p in project.get("optional-dependencies", {}).get("ray", [])]
    else:
        requires = metadata.requires("localvision") or []
        pins = [r for r in requires if _RAY_EXTRA.search(r.partition(";")[2])]
    for pin in pins:
        match = _PIN.match(pin)
        if match is not None:
            return match.group(2)
    raise InvalidParameterError(
        "localvision's ray extra pins no exact Ray release, so the RayService's image and "
        f"rayVersion cannot be chosen (found: {', '.join(pins) or 'no ray extra'}).",
        hint="Install a localvision release, or pin ray==X.Y.Z in the ray extra.",
    )


def base_image(plan: Plan) -> str:
    """``rayproject/ray:VERSION-py311`` (``-gpu``: Ray's CUDA image)."""
    suffix = "-gpu" if plan.request.gpu else ""
    return f"rayproject/ray:{ray_version(plan.install)}-{RAY_PYTHON}{suffix}"


def ray_dockerfile(plan: Plan, *, usage: str) -> str:
    """The Dockerfile of the RayService's image; ``usage`` is the comment telling how to use
    it."""
    extras = plan.extras_spec()
    install = plan.install
    lines = [
        "# syntax=docker/dockerfile:1",
        "#",
        f"# localvision {install.version} on Ray Serve, for a KubeRay RayService"
        + (f" serving {', '.join(m.name for m in plan.models)}" if plan.models else "")
        + f", written by `localvision deploy render {plan.target}`.",
        "# This folder is the build context.",
        "#",
        *comment_block(usage),
        "#",
        *comment_paragraph(
            "Ray's own image, at the Ray release localvision's ray extra pins, with localvision "
            f"and the extras this deployment needs ({', '.join(plan.extras)}) installed into "
            "its Python as its unprivileged user."
        ),
        *[line for note in plan.notes for line in comment_paragraph(f"Note: {note}")],
        "",
        f"ARG BASE_IMAGE={base_image(plan)}",
        "",
    ]
    if install.source is not None:
        wheel = f"{_WHEELS}/{wheel_name(install.version)}"
        lines += [
            "# localvision from the checkout that rendered this file (source/), built into a",
            "# wheel here so the image runs exactly that code. Render with --install release to",
            "# install the published package instead.",
            "FROM ${BASE_IMAGE} AS builder",
            "ENV PIP_NO_CACHE_DIR=1 \\",
            "    PIP_DISABLE_PIP_VERSION_CHECK=1",
            f"COPY --chown={RAY_UID}:{RAY_GID} {SOURCE}/ /tmp/localvision/",
            f"RUN pip wheel --no-deps --wheel-dir {_WHEELS} /tmp/localvision",
            "",
            "FROM ${BASE_IMAGE}",
            "ENV PIP_NO_CACHE_DIR=1 \\",
            "    PIP_DISABLE_PIP_VERSION_CHECK=1",
            "# The wheel is mounted for this step only: it never becomes a layer of the image.",
            f"RUN --mount=type=bind,from=builder,source={_WHEELS},target={_WHEELS} \\",
            f"    pip install '{wheel}{extras}'",
        ]
    else:
        lines += [
            "FROM ${BASE_IMAGE}",
            "ENV PIP_NO_CACHE_DIR=1 \\",
            "    PIP_DISABLE_PIP_VERSION_CHECK=1",
            "# The published localvision at the version that rendered this file.",
            f"RUN pip install 'localvision{extras}=={install.version}'",
        ]
    if plan.request.gpu:
        lines += onnxruntime_gpu_lines()
    if any(m.baked_file for m in plan.models):
        lines += [
            "# The baked model files and cards (--bake): no replica downloads anything. They",
            "# are owned by root, so the server can read but never change them.",
            f"COPY {MODELS}/ {plan.models_dir}/",
        ]
    env = [f"ENV LOCALVISION_HOME={RAY_HOME}"]
    if plan.request.gpu:
        env = [env[0] + " \\", "    LOCALVISION_PROVIDERS=cuda,cpu"]
    lines += [
        "# The data home (model cache, converted models). It is set in the image, not the pod,",
        "# because the settings are read where Ray Serve builds the application and then sent",
        "# to the replicas: every node must agree on it.",
        *env,
        "# Ray's own user, by number so that Kubernetes can verify runAsNonRoot.",
        f"USER {RAY_UID}:{RAY_GID}",
    ]
    return "\n".join(lines) + "\n"


def pod_security() -> dict[str, Any]:
    """Ray's unprivileged user, the runtime's seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RAY_UID,
        "runAsGroup": RAY_GID,
        "fsGroup": Note("Makes the volumes readable and writable by Ray's group.", RAY_GID),
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> Note:
    """No privilege escalation, no capabilities (with the reason, for the manifest)."""
    return Note(
        "No privilege escalation (it also disables the passwordless sudo of Ray's image) and "
        "no capabilities. The root file system stays writable: Ray keeps its session, logs "
        "and spilled objects under /tmp/ray.",
        {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    )
