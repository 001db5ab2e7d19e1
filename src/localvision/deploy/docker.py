"""The ``docker`` target: the server's image (multi-stage Dockerfile, ``.dockerignore``).

Every container target (docker, compose, kubernetes, kserve, cloudrun) runs this image, so it
is written here once and the other targets add their platform's files around it.

The image, as the issue asks and a platform engineer expects:

* two stages: the first builds a virtual environment with localvision and only the extras the
  deployment needs (:mod:`.extras`); the final stage copies that environment onto a fresh base,
  so no compiler, build tool or pip cache is in the image that runs;
* a slim Python 3.11 base (``--gpu``: NVIDIA's CUDA runtime with cuDNN, and ONNX Runtime's
  CUDA build in place of its CPU one);
* a non-root user (uid 10001) and the data home (``LOCALVISION_HOME``) as the one folder it
  writes, so a read-only root file system works;
* ``HEALTHCHECK`` on ``/healthz`` (liveness; platforms with readiness probes use ``/readyz``);
* the model copied in with ``--bake`` (fast cold starts, no network at start), else fetched from
  its storage URI when the server starts and cached in the data home.
"""

from __future__ import annotations

import json
import textwrap
from importlib import metadata

from .context import MODELS, SOURCE, add_build_context, wheel_name
from .output import RenderedFiles
from .plan import APP_DIR, CONFIG_PATH, HOME_DIR, Plan, credential_env

__all__ = [
    "CPU_BASE",
    "GPU_BASE",
    "USER_ID",
    "add_server_image",
    "comment_block",
    "comment_paragraph",
    "dockerignore",
    "healthcheck_command",
    "install_lines",
    "render",
    "server_dockerfile",
]

CPU_BASE = "python:3.11-slim-bookworm"
GPU_BASE = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"
"""CUDA 12 with cuDNN 9: what ONNX Runtime's CUDA build on PyPI is built against."""
USER_ID = 10001
VENV = f"{APP_DIR}/venv"

_APT_NOTE = (
    "# No apt version pins (hadolint DL3008): Ubuntu's archive keeps only the latest build of\n"
    "# a package, so a pinned version stops resolving at its next security update; the base\n"
    "# image's tag pins the release instead.\n"
    "# hadolint ignore=DL3008\n"
)


def render(plan: Plan) -> RenderedFiles:
    """The docker target's files: the image, ready for ``docker build`` and ``docker run``."""
    files = RenderedFiles()
    add_server_image(plan, files, usage=_docker_usage(plan))
    return files


def add_server_image(plan: Plan, files: RenderedFiles, *, usage: str) -> None:
    """Add the server's ``Dockerfile``, ``.dockerignore`` and build context to ``files``.

    ``usage`` is the comment block telling how the target builds and runs the image.
    """
    files.add_text("Dockerfile", server_dockerfile(plan, usage=usage))
    files.add_text(".dockerignore", dockerignore(plan))
    add_build_context(plan, files)


def server_dockerfile(plan: Plan, *, usage: str) -> str:
    """The server image's Dockerfile for ``plan``."""
    gpu = plan.request.gpu
    base = GPU_BASE if gpu else CPU_BASE
    python = "python3" if gpu else "python"
    port = plan.request.port
    lines = [
        "# syntax=docker/dockerfile:1",
        "#",
        f"# localvision {plan.install.version}: the API server"
        + (f" for {', '.join(m.name for m in plan.models)}" if plan.models else "")
        + f", written by `localvision deploy render {plan.target}`.",
        "# This folder is the build context.",
        "#",
        *comment_block(usage),
        "#",
        *comment_paragraph(
            "Two stages: the first builds a virtual environment holding localvision and the "
            f"extras this deployment needs ({', '.join(plan.extras) or 'none: ONNX only'}); "
            "the second copies only that environment onto a fresh base, so no compiler, build "
            "tool or pip cache reaches the image that runs."
        ),
        *[line for note in plan.notes for line in comment_paragraph(f"Note: {note}")],
        "",
        f"ARG BASE_IMAGE={base}",
        "",
        "FROM ${BASE_IMAGE} AS builder",
    ]
    if gpu:
        lines += [
            "# The CUDA image has no Python: Ubuntu 24.04's (3.12) and venv, in both stages.",
            _APT_NOTE.rstrip("\n"),
            "RUN apt-get update \\",
            " && apt-get install -y --no-install-recommends python3 python3-venv \\",
            " && rm -rf /var/lib/apt/lists/*",
        ]
    lines += [
        "ENV PIP_NO_CACHE_DIR=1 \\",
        "    PIP_DISABLE_PIP_VERSION_CHECK=1",
        f"RUN {python} -m venv {VENV}",
        f"ENV PATH={VENV}/bin:$PATH",
        *install_lines(plan),
    ]
    if gpu:
        lines += onnxruntime_gpu_lines()
    lines += ["", "FROM ${BASE_IMAGE}"]
    setup = [
        f"RUN groupadd --system --gid {USER_ID} localvision \\",
        f" && useradd --system --uid {USER_ID} --gid {USER_ID} --no-create-home \\",
        f"      --home-dir {HOME_DIR} --shell /usr/sbin/nologin localvision \\",
        f" && mkdir -p {HOME_DIR} \\",
        f" && chown {USER_ID}:{USER_ID} {HOME_DIR}",
    ]
    if gpu:
        lines += [
            _APT_NOTE.rstrip("\n"),
            "RUN apt-get update \\",
            " && apt-get install -y --no-install-recommends python3 \\",
            " && rm -rf /var/lib/apt/lists/*",
        ]
    lines += [
        "# The server runs as this unprivileged user. The data home is the only folder it",
        "# writes (model cache, converted models), so the root file system can be read-only.",
        *setup,
        f"COPY --from=builder {VENV} {VENV}",
    ]
    if any(m.baked_file for m in plan.models):
        lines += [
            "# The baked model files and cards (--bake): a cold start downloads nothing. They",
            "# stay owned by root, so the server can read but never change them.",
            f"COPY {MODELS}/ {plan.models_dir}/",
        ]
    env = [
        f"ENV PATH={VENV}/bin:$PATH \\",
        f"    LOCALVISION_HOME={HOME_DIR} \\",
    ]
    if gpu:
        env.append("    LOCALVISION_PROVIDERS=cuda,cpu \\")
    env += ["    PYTHONDONTWRITEBYTECODE=1 \\", "    PYTHONUNBUFFERED=1"]
    lines += [
        *env,
        f"USER {USER_ID}:{USER_ID}",
        *[f"EXPOSE {p}" for p in plan.ports.values()],
        "# Liveness: /healthz answers as soon as the process serves HTTP. The start period",
        "# covers loading (and downloading) the models; readiness is /readyz, for platforms",
        "# that route traffic by it.",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \\",
        f"    CMD {healthcheck_command(port)}",
        'ENTRYPOINT ["localvision"]',
        f"CMD {_exec_form(plan.serve_args())}",
    ]
    return "\n".join(lines) + "\n"


def install_lines(plan: Plan, *, target: str | None = None) -> list[str]:
    """The builder stage's lines installing localvision with the plan's extras (into the
    active virtual environment, or ``pip --target`` a folder when ``target`` is given)."""
    into = f" --target {target}" if target else ""
    extras = plan.extras_spec()
    install = plan.install
    if install.source is None:
        return [
            "# The published localvision at the version that rendered this file.",
            f"RUN pip install{into} 'localvision{extras}=={install.version}'",
        ]
    wheel = f"/build/wheels/{wheel_name(install.version)}"
    return [
        "# localvision from the checkout that rendered this file (source/), built into a wheel",
        "# here so the image runs exactly that code. Render with --install release to install",
        "# the published package instead.",
        f"COPY {SOURCE}/ /build/localvision/",
        "RUN pip wheel --no-deps --wheel-dir /build/wheels /build/localvision \\",
        f" && pip install{into} '{wheel}{extras}'",
    ]


def dockerignore(plan: Plan, *, keep: tuple[str, ...] = ()) -> str:
    """``.dockerignore``: everything out of the build context but what the Dockerfile copies.

    The config (it holds credentials) and the manifests never reach the image; ``keep`` names
    further entries a Dockerfile copies (the Lambda image's config).
    """
    kept = []
    if plan.install.source is not None:
        kept.append(SOURCE)
    if any(m.baked_file for m in plan.models):
        kept.append(MODELS)
    kept += list(keep)
    lines = [
        "# Only what the Dockerfile copies goes into the build context: not the manifests, and",
        "# not a localvision.toml holding credentials"
        + (" (except the one the Lambda image needs)." if keep else "."),
        "*",
        *[f"!{entry}" for entry in kept],
        "**/__pycache__",
        "**/*.py[co]",
    ]
    return "\n".join(lines) + "\n"


def healthcheck_command(port: int) -> str:
    """An exec-form command that fails unless ``/healthz`` answers 2xx (no curl in the image)."""
    code = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=4)"
    )
    return _exec_form(["python", "-c", code])


def _exec_form(args: list[str]) -> str:
    return json.dumps(args)


def _docker_usage(plan: Plan) -> str:
    port = plan.request.port
    run = ["docker run --rm \\", f"    -p {port}:{port} \\"]
    if plan.request.gpu:
        run.append("    --gpus all \\")
    run.append(f"    -v localvision-home:{HOME_DIR} \\")
    if plan.uses_config:
        run += [
            f'    -v "$PWD/localvision.toml:{CONFIG_PATH}:ro" \\',
            f"    -e LOCALVISION_CONFIG={CONFIG_PATH} \\",
        ]
    run += [f"    -e {name} \\" for name in credential_env(plan)]
    run.append(f"    {plan.image}")
    return "\n".join(
        [
            "Build and run:",
            "",
            f"  docker build -t {plan.image} .",
            *["  " + line for line in run],
            "",
            "The named volume keeps the data home (downloaded and converted models) across "
            "container restarts."
            + (
                " localvision.toml is your config with the [server] credentials: it is "
                "mounted, never built into the image."
                if plan.uses_config
                else ""
            ),
        ]
    )


def comment_block(text: str) -> list[str]:
    """Comment lines for ``text``: indented lines (commands) kept, prose wrapped."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(" ") or not line:
            lines.append(f"# {line}".rstrip())
        else:
            lines += comment_paragraph(line)
    return lines


def comment_paragraph(text: str) -> list[str]:
    """``text`` wrapped into Dockerfile comment lines."""
    return [f"# {line}" for line in textwrap.wrap(text, 88, break_on_hyphens=False)]


def onnxruntime_gpu_lines() -> list[str]:
    """Dockerfile lines replacing the CPU build of ONNX Runtime that localvision depends on
    with the CUDA build (both are the module ``onnxruntime``), at the version installed here:
    the one localvision was tested with."""
    version = onnxruntime_version()
    return [
        "# ONNX Runtime's CUDA build replaces the CPU build localvision depends on (both are",
        f"# the module onnxruntime), at the version localvision was tested with ({version}).",
        "RUN pip uninstall --yes onnxruntime \\",
        f" && pip install onnxruntime-gpu=={version}",
    ]


def onnxruntime_version() -> str:
    """The ONNX Runtime installed here: the version the GPU build is pinned to."""
    try:
        return metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:  # a GPU build installed here: same version scheme
        return metadata.version("onnxruntime-gpu")
