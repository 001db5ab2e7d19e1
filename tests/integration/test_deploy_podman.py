"""A smoke build of the docker target's image with podman, where this machine allows one.

Podman is usually absent here, and no base image can be pulled (nothing leaves the machine),
so the test skips, saying which, unless podman is installed *and* the base image is already in
its local store. ``--isolation=chroot`` builds without the user namespaces and container runtime
a restricted machine lacks (it builds; it cannot run containers). The builder stage installs
localvision's dependencies with pip, from whatever package index the machine's pip uses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from localvision.deploy import DeployRequest, ModelSource, render_files
from localvision.deploy.docker import CPU_BASE

pytestmark = pytest.mark.slow
TAG = "localhost/localvision-smoke:test"


def test_the_docker_target_builds_with_podman(tmp_path: Path, colour_model_path: Path) -> None:
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is not installed, so the docker target's image is not smoke-built")
    exists = subprocess.run([podman, "image", "exists", CPU_BASE], capture_output=True, timeout=60)
    if exists.returncode != 0:
        pytest.skip(
            f"the base image {CPU_BASE} is not in podman's local store, and no image can "
            "be pulled here"
        )
    out = tmp_path / "image"
    card = colour_model_path.with_name("colours.card.toml")
    model = ModelSource("colours", file=colour_model_path, card=card, format="onnx")
    render_files(
        DeployRequest("docker", models=(model,), bake=True, insecure=True, install="checkout"),
        out,
    )
    build = subprocess.run(
        [
            podman,
            "build",
            "--isolation=chroot",
            "--format=docker",
            "--pull=never",
            "-t",
            TAG,
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    try:
        assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
        inspect = subprocess.run(
            [podman, "image", "inspect", TAG], capture_output=True, text=True, timeout=60
        )
        (image,) = json.loads(inspect.stdout)
        config = image["Config"]
        assert config["User"] == "10001:10001"
        assert config["Entrypoint"] == ["localvision"]
        assert "colours=/opt/localvision/models/colours.onnx" in config["Cmd"]
        health = image.get("Healthcheck") or config.get("Healthcheck")
        assert health and "/healthz" in " ".join(health["Test"])
    finally:
        subprocess.run([podman, "rmi", "--force", TAG], capture_output=True, timeout=120)
