"""Deployment: files that run the server on a platform, and serverless entry points.

``localvision deploy render TARGET`` (:func:`render_files`) takes what was asked
(:mod:`.request`), refuses what would not work (:mod:`.checks`) and decides the rest once, as a
:class:`Plan` (:mod:`.plan`: the models' places, the image's extras, the server's command
line); then one module per target lays the plan out in that platform's files: :mod:`.docker`,
:mod:`.compose`, :mod:`.kubernetes`, :mod:`.kserve`, :mod:`.cloudrun`, :mod:`.aws_lambda`,
:mod:`.rayservice` (KubeRay; with :mod:`.ray_image`, :mod:`.ray_config`, :mod:`.ray_workers`).
:mod:`.lambda_handler` is the AWS Lambda entry point over the same ASGI app as the server.
"""

from __future__ import annotations

from .plan import Plan, make_plan
from .render import render, render_files
from .request import TARGETS, DeployRequest, ModelSource

__all__ = [
    "TARGETS",
    "DeployRequest",
    "ModelSource",
    "Plan",
    "make_plan",
    "render",
    "render_files",
]
