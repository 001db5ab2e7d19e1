"""The files a render produces, and writing them into the output folder safely.

A render is a set of text files (Dockerfiles, manifests) and of files copied in (baked models,
the source tree a wheel is built from). :meth:`RenderedFiles.write` writes each atomically and
records what it wrote in a marker file, so rendering again into the same folder replaces its
own earlier files (a model no longer baked does not linger in the build context) and never
deletes or overwrites anything it did not write: a folder that is not empty and has no marker
is refused.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import InvalidParameterError
from ..files import atomic_path

__all__ = ["MARKER", "RenderedFiles"]

MARKER = ".localvision-render.json"
"""Lists the files the last render wrote into the folder (relative, POSIX)."""


@dataclass
class RenderedFiles:
    """Relative path -> text to write, and relative path -> local file to copy."""

    texts: dict[str, str] = field(default_factory=dict)
    copies: dict[str, Path] = field(default_factory=dict)
    private: set[str] = field(default_factory=set)
    """Files holding credentials: readable by their owner only."""

    def add_text(self, path: str, text: str, *, private: bool = False) -> None:
        self.texts[_relative(path)] = text
        if private:
            self.private.add(_relative(path))

    def add_copy(self, path: str, source: Path) -> None:
        self.copies[_relative(path)] = source

    @property
    def paths(self) -> list[str]:
        """Every file this render writes, sorted."""
        return sorted({*self.texts, *self.copies})

    def write(self, out: Path) -> list[str]:
        """Write every file under ``out`` (replacing an earlier render's) and return them."""
        earlier = _earlier_render(out)
        for path in earlier:
            (out / path).unlink(missing_ok=True)
        _remove_empty_parents(out, earlier)
        for path, text in self.texts.items():
            with atomic_path(out / path) as tmp:
                if path in self.private:  # created private, never readable by others
                    tmp.touch(mode=0o600)
                    tmp.chmod(0o600)
                tmp.write_text(text, encoding="utf-8")
        for path, source in self.copies.items():
            with atomic_path(out / path) as tmp:
                shutil.copyfile(source, tmp)
        written = self.paths
        with atomic_path(out / MARKER) as tmp:
            tmp.write_text(json.dumps({"files": written}, indent=1) + "\n", encoding="utf-8")
        return written


def _relative(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ValueError(f"a rendered file must lie inside the output folder: {path!r}")
    return str(pure)


def _earlier_render(out: Path) -> list[str]:
    """The files an earlier render wrote into ``out``; refuses a folder it did not write."""
    if not out.exists():
        return []
    if not out.is_dir():
        raise InvalidParameterError(f"--out {out} is a file, not a folder.")
    marker = out / MARKER
    if not marker.is_file():
        if any(out.iterdir()):
            raise InvalidParameterError(
                f"--out {out} is not empty and was not written by deploy render; nothing in it "
                "is overwritten.",
                hint="Choose a new or empty folder.",
            )
        return []
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
        return [_relative(str(path)) for path in files]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidParameterError(
            f"{marker} is damaged ({exc}), so the files of the earlier render are unknown.",
            hint="Choose a new or empty folder.",
        ) from None


def _remove_empty_parents(out: Path, paths: list[str]) -> None:
    folders = {parent for path in paths for parent in PurePosixPath(path).parents}
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        if folder.parts:
            target = out / folder
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()
