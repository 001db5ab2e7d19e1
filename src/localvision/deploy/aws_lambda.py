"""The ``lambda`` target: a container-image AWS Lambda function.

The image is built on AWS's Lambda Python base image, with localvision (and the ``lambda``
extra, Mangum) installed into ``LAMBDA_TASK_ROOT`` by a builder stage, the models baked in
(``--bake`` is required: Lambda has no disk that outlives a cold start to cache a download on)
and :func:`localvision.deploy.lambda_handler.handler` as its ``CMD``. Its config names the
baked models; the one given with ``--config`` (credentials) is copied in ahead of them, since
a Lambda function has no volumes to mount it from.

Python 3.12, not 3.11: AWS's 3.11 base is Amazon Linux 2, whose glibc (2.26) is older than
ONNX Runtime's Linux wheels need (manylinux 2.27/2.28); the 3.12 base is Amazon Linux 2023.
"""

from __future__ import annotations

import tomllib

from ..config import Settings
from ..errors import ConfigError
from .context import MODELS, add_build_context
from .docker import comment_block, comment_paragraph, dockerignore, install_lines
from .output import RenderedFiles
from .plan import LAMBDA_ROOT, Plan
from .toml_text import toml_key, toml_table

__all__ = ["BASE", "CONFIG", "HANDLER", "lambda_config", "lambda_dockerfile", "render"]

BASE = "public.ecr.aws/lambda/python:3.12"
HANDLER = "localvision.deploy.lambda_handler.handler"
CONFIG = "localvision.toml"
"""The image's config file, in the build context and in ``LAMBDA_TASK_ROOT``."""
MEMORY_MB = 3538
"""Lambda gives 2 vCPUs from 3,538 MB: the machine docs/benchmarks.md measured on."""


def render(plan: Plan) -> RenderedFiles:
    """The Lambda image's Dockerfile, ``.dockerignore``, config and build context."""
    files = RenderedFiles()
    files.add_text("Dockerfile", lambda_dockerfile(plan))
    files.add_text(".dockerignore", dockerignore(plan, keep=(CONFIG,)))
    files.add_text(CONFIG, lambda_config(plan), private=plan.uses_config)
    add_build_context(plan, files)
    return files


def lambda_config(plan: Plan) -> str:
    """The image's ``localvision.toml``: the user's config, then the baked models."""
    parts = [
        "# The config of the Lambda image, written by `localvision deploy render lambda`.",
        "# It is built into the image (Lambda mounts no files): keep the image in a private",
        "# repository. API keys in server.api_keys are stored as hashes.",
        "",
    ]
    config = plan.request.config_file
    if config is not None:
        parts += [f"# From {config.name}:", config.read_text(encoding="utf-8").rstrip(), ""]
    parts.append("# The models baked into the image (--bake).")
    for model in plan.models:
        header = f"models.{toml_key(model.name)}"
        parts.append(toml_table({"path": model.location}, header=header))
    text = "\n".join(parts).rstrip() + "\n"
    try:
        Settings.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(
            f"The Lambda image's config would not load: {exc}",
            hint="Check the config given with --config.",
        ) from None
    return text


def lambda_dockerfile(plan: Plan) -> str:
    """The Lambda image's Dockerfile."""
    image = plan.image
    usage = [
        "Build (for the architecture the function runs on), push to ECR, create the function:",
        "",
        f"  docker build --platform linux/amd64 -t {image} .",
        f"  docker tag {image} ACCOUNT.dkr.ecr.REGION.amazonaws.com/{image}",
        f"  docker push ACCOUNT.dkr.ecr.REGION.amazonaws.com/{image}",
        f"  aws lambda create-function --function-name {plan.request.name} \\",
        "      --package-type Image \\",
        f"      --code ImageUri=ACCOUNT.dkr.ecr.REGION.amazonaws.com/{image} \\",
        f"      --role ROLE_ARN --memory-size {MEMORY_MB} --timeout 30",
        f"  aws lambda create-function-url-config --function-name {plan.request.name} "
        "--auth-type NONE",
        "",
        f"{MEMORY_MB} MB gives 2 vCPUs, the machine docs/benchmarks.md measured on. The "
        "Function URL (or an API Gateway HTTP API) then answers every localvision route: "
        "POST /v1/images:annotate, the Rekognition POST /, /v2/... and /readyz.",
    ]
    lines = [
        "# syntax=docker/dockerfile:1",
        "#",
        f"# localvision {plan.install.version} as an AWS Lambda function, written by",
        "# `localvision deploy render lambda`. This folder is the build context.",
        "#",
        *comment_block("\n".join(usage)),
        "#",
        *comment_paragraph(
            "AWS's Python 3.12 base (Amazon Linux 2023): its 3.11 base is Amazon Linux 2, whose "
            "glibc is older than ONNX Runtime's wheels need. The builder stage installs "
            f"localvision with the extras these models need ({', '.join(plan.extras)}) into a "
            "folder; the final stage copies only that folder, the models and the config."
        ),
        *[line for note in plan.notes for line in comment_paragraph(f"Note: {note}")],
        "",
        f"ARG BASE_IMAGE={BASE}",
        "",
        "FROM ${BASE_IMAGE} AS builder",
        "ENV PIP_NO_CACHE_DIR=1 \\",
        "    PIP_DISABLE_PIP_VERSION_CHECK=1",
        *install_lines(plan, target="/build/package"),
        "",
        "FROM ${BASE_IMAGE}",
        f"COPY --from=builder /build/package {LAMBDA_ROOT}/",
        "# The models, baked in: a cold start reads them from the image, downloads nothing.",
        f"COPY {MODELS}/ {plan.models_dir}/",
        "# The config naming them (and holding the credentials given with --config). It is",
        "# private (0600) in the build context; Lambda runs the image as a user other than",
        "# the files' owner, so the copy in the image is made readable.",
        f"COPY --chmod=0444 {CONFIG} {LAMBDA_ROOT}/{CONFIG}",
        "# /tmp is the only place a Lambda function may write: the data home goes there.",
        f"ENV LOCALVISION_CONFIG={LAMBDA_ROOT}/{CONFIG} \\",
        "    LOCALVISION_HOME=/tmp/localvision",
        "# Lambda runs the image as its own unprivileged user; the handler loads the models at",
        "# the first invocation of each cold start and keeps them.",
        f'CMD ["{HANDLER}"]',
    ]
    return "\n".join(lines) + "\n"
