"""What goes into an image's build context besides its Dockerfile.

The output folder is the build context (``docker build .`` inside it), so everything the image
copies is put there by the render:

* ``source/``: when localvision is installed from this checkout, the files its wheel is built
  from (``pyproject.toml``, ``README.md``, ``src/localvision``), so the image runs exactly the
  code that rendered it, including changes not released yet;
* ``models/``: with ``--bake``, each model file under its served name, and its card beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .output import RenderedFiles
from .plan import Plan
from .toml_text import toml_table

__all__ = ["MODELS", "SOURCE", "add_build_context", "wheel_name"]

SOURCE = "source"
MODELS = "models"
_SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def add_build_context(plan: Plan, files: RenderedFiles) -> None:
    """Add the source tree (for a checkout install) and the baked models to ``files``."""
    root = plan.install.source
    if root is not None:
        for name in _SOURCE_FILES:
            if (root / name).is_file():
                files.add_copy(f"{SOURCE}/{name}", root / name)
        package = root / "src" / "localvision"
        for path in sorted(package.rglob("*")):
            if path.is_file() and _is_source(path):
                files.add_copy(f"{SOURCE}/{path.relative_to(root).as_posix()}", path)
    for model in plan.models:
        if model.baked_file is None:
            continue
        assert model.source.file is not None
        files.add_copy(f"{MODELS}/{model.baked_file}", model.source.file)
        card = model.source.card
        if model.baked_card is None or card is None:
            continue
        if isinstance(card, Mapping):
            files.add_text(f"{MODELS}/{model.baked_card}", toml_table(card))
        else:
            files.add_copy(f"{MODELS}/{model.baked_card}", Path(card))


def wheel_name(version: str) -> str:
    """The file name of localvision's wheel at ``version`` (pure Python, any platform)."""
    return f"localvision-{version}-py3-none-any.whl"


def _is_source(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in _SKIPPED_SUFFIXES
