"""The card as ``NAME.card.toml``, the sidecar ``load_model`` reads beside a model file.

``models push`` writes it so a version folder copied out of storage by any tool loads with
its labels and preprocessing as it is. (The manifest carries the same card as JSON, and that is
what ``pull`` and serving read.) Values are written as TOML literals; a value TOML cannot hold
(a ``None``) is left out.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from typing import Any

__all__ = ["card_toml"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def card_toml(card: Mapping[str, Any]) -> str:
    """``card`` as a TOML document of ``key = value`` lines (checked by parsing it back)."""
    lines = []
    for key, value in card.items():
        literal = _literal(value)
        if literal is not None:
            lines.append(f"{_key(key)} = {literal}")
    text = "\n".join(lines) + "\n" if lines else ""
    tomllib.loads(text)
    return text


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else str(_literal(key))


def _literal(value: Any) -> str | None:
    """A TOML literal for ``value``, or None when TOML has no way to write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, once DEL (which TOML wants escaped) is.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        items = [_literal(item) for item in value]
        if any(item is None for item in items):
            return None
        return "[" + ", ".join(str(item) for item in items) + "]"
    if isinstance(value, Mapping):
        pairs = [(k, _literal(v)) for k, v in value.items()]
        return "{" + ", ".join(f"{_key(str(k))} = {v}" for k, v in pairs if v is not None) + "}"
    return None
