"""YAML written from plain values, with the comments a platform engineer reads.

The manifests ``deploy render`` writes are built as dicts and lists (so their structure is
checked like data) and printed here, because a YAML library drops comments, and the comments
are half of what these files are for. A value wrapped in :class:`Note` gets its comment lines
above its key or list item. Strings are written plain when nothing in them could be read as
another type or as YAML syntax, a mapping's multi-line text (a config file in a ConfigMap, a
RayService's ``serveConfigV2``) as a literal block (``key: |``) so it reads as the file it is,
and double-quoted (JSON escapes, which YAML reads the same) otherwise.

Example::

    dump({"kind": "Service", "spec": {"port": Note("the server's HTTP port", 8080)}})
    # kind: Service
    # spec:
    #   # the server's HTTP port
    #   port: 8080
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Note", "dump"]

_PLAIN = re.compile(r"[A-Za-z/][A-Za-z0-9_./-]*")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"}
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")


@dataclass(frozen=True)
class Note:
    """``value`` with ``comment`` (one or more lines) written above it."""

    comment: str
    value: Any


def dump(*documents: Any, header: str = "") -> str:
    """YAML text for ``documents`` (separated by ``---``), ``header`` as comment lines on top."""
    lines = _comment(header, 0) if header else []
    for index, document in enumerate(documents):
        if index:
            lines.append("---")
        lines.extend(_block(document, 0))
    return "\n".join(lines) + "\n"


_WIDTH = 96


def _comment(text: str, indent: int) -> list[str]:
    """``text`` as comment lines at ``indent``: its own lines kept, long ones wrapped (a line
    starting with spaces, a command to copy, is never wrapped)."""
    pad = " " * indent
    width = max(_WIDTH - indent - 2, 40)
    lines: list[str] = []
    for line in text.strip("\n").splitlines():
        if line.startswith(" ") or len(line) <= width:
            lines.append(f"{pad}# {line}".rstrip())
        else:
            parts = textwrap.wrap(line, width, break_on_hyphens=False)
            lines += [f"{pad}# {part}" for part in parts]
    return lines


def _block(value: Any, indent: int) -> list[str]:
    """The lines of a mapping or sequence written at ``indent``."""
    if isinstance(value, Mapping):
        return _mapping(value, indent)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return _sequence(value, indent)
    raise TypeError(f"a YAML document is a mapping or a sequence, not {type(value).__name__}")


def _mapping(mapping: Mapping[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, raw in mapping.items():
        value = raw
        if isinstance(value, Note):
            lines.extend(_comment(value.comment, indent))
            value = value.value
        plain = _PLAIN_KEY.fullmatch(key) and key.lower() not in _RESERVED
        name = key if plain else json.dumps(key)
        if _is_collection(value) and value:
            lines.append(f"{pad}{name}:")
            lines.extend(_block(value, indent + 2))
        elif isinstance(value, str) and _literal_fits(value):
            lines.append(f"{pad}{name}: |" + ("" if value.endswith("\n") else "-"))
            lines.extend(f"{pad}  {line}".rstrip() for line in value.splitlines())
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}")
    return lines


def _literal_fits(text: str) -> bool:
    """True when ``text`` reads back the same from a literal block: several lines, the first
    not indented (it would set the block's indentation), no trailing spaces (an editor may
    strip them), at most one final line break, printable characters only."""
    lines = text.split("\n")
    return (
        len(lines) > 1
        and not text.endswith("\n\n")
        and not text.startswith((" ", "\n"))
        and all(line == line.rstrip() and line.isprintable() for line in lines)
    )


def _sequence(items: Sequence[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for raw in items:
        item = raw
        if isinstance(item, Note):
            lines.extend(_comment(item.comment, indent))
            item = item.value
        if not (_is_collection(item) and item):
            lines.append(f"{pad}- {_scalar(item)}")
            continue
        inner = _block(item, indent + 2)
        first = next(i for i, line in enumerate(inner) if not line.lstrip().startswith("#"))
        # Comments on the item's first key go above the dash, at the dash's indent.
        lines.extend(pad + line.lstrip() for line in inner[:first])
        lines.append(f"{pad}- {inner[first].lstrip()}")
        lines.extend(inner[first + 1 :])
    return lines


def _is_collection(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, Sequence) and not isinstance(value, str)
    )


def _scalar(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)
