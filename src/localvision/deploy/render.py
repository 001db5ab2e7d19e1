"""``deploy render``: a request checked into a plan, laid out by its target's module, written.

One module per target, each with ``render(plan) -> RenderedFiles``, imported only when its
target is chosen. Adding a target is adding a module and a line to :data:`RENDERERS` (and its
name to :data:`~.plan.TARGETS`).

Example::

    from localvision.deploy import DeployRequest, ModelSource, render_files

    request = DeployRequest(
        "kubernetes",
        models=(ModelSource("pets", uri="s3://models/pets/3/"),),
        insecure=True,
    )
    written = render_files(request, Path("deploy/k8s"))
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path

from .output import RenderedFiles
from .plan import Plan, make_plan
from .request import TARGETS, DeployRequest

__all__ = ["RENDERERS", "render", "render_files"]

RENDERERS: dict[str, str] = {
    "docker": "localvision.deploy.docker",
    "compose": "localvision.deploy.compose",
    "kubernetes": "localvision.deploy.kubernetes",
    "kserve": "localvision.deploy.kserve",
    "cloudrun": "localvision.deploy.cloudrun",
    "lambda": "localvision.deploy.aws_lambda",
    "rayservice": "localvision.deploy.rayservice",
}
"""Target -> the module that lays a plan out in that platform's files."""

assert tuple(RENDERERS) == TARGETS


def render(plan: Plan) -> RenderedFiles:
    """The files for ``plan``'s target (nothing written yet)."""
    module = importlib.import_module(RENDERERS[plan.target])
    files: RenderedFiles = module.render(plan)
    return files


def render_files(request: DeployRequest, out: Path) -> tuple[Plan, list[str]]:
    """Check ``request``, render its target's files and write them under ``out``.

    Returns the plan (its notes say what was chosen for the user) and the files written.
    Nothing is written when the request is refused.
    """
    plan = make_plan(replace(request, out_dir=out))
    files = render(plan)
    return plan, files.write(out)
