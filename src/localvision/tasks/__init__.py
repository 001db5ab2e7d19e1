"""Tasks: one module per feature, each the fixed pipeline pre-process → forward → post-process."""

from .base import Task
from .classify import ClassifyTask

__all__ = ["ClassifyTask", "Task"]
