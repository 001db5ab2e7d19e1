"""TOML written from plain values: model cards, the Lambda image's config, a RayService's.

Only what those files hold: strings, numbers, booleans and lists of them, under a table
header or at the top level (:func:`toml_table`), or nested tables of them (:func:`toml_document`,
a whole config). Each value is written as JSON, which for these types is valid TOML, and the
text is parsed back before it is returned, so a value TOML cannot hold fails here rather than
in the container.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidParameterError

__all__ = ["toml_document", "toml_key", "toml_table"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_table(values: Mapping[str, Any], *, header: str | None = None) -> str:
    """``key = value`` lines (under ``[header]`` when given), checked to parse as TOML."""
    lines = [f"[{header}]"] if header else []
    for key, value in values.items():
        if value is None:
            continue  # TOML has no null: an absent key is the default
        _check(key, value)
        lines.append(f"{toml_key(key)} = {json.dumps(value)}")
    text = "\n".join(lines) + "\n"
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameterError(f"Cannot write {dict(values)!r} as TOML: {exc}.") from None
    return text


def toml_document(data: Mapping[str, Any]) -> str:
    """A whole TOML document for ``data``: nested mappings become ``[a.b]`` tables (an empty one
    keeps its header: ``[ray.autoscaling]`` alone turns autoscaling on), ``None`` is left out.

    The text must read back as ``data``; what does not (a list of tables, a control character
    TOML cannot hold) raises :class:`InvalidParameterError`.
    """
    lines: list[str] = []
    _write_table(data, (), lines)
    text = "\n".join(lines).strip("\n")
    text = text + "\n" if text else ""
    try:
        same = tomllib.loads(text) == _without_none(data)
    except tomllib.TOMLDecodeError:
        same = False
    if not same:
        raise InvalidParameterError(f"Cannot write {dict(data)!r} as TOML.")
    return text


def _write_table(table: Mapping[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    values = [(k, v) for k, v in table.items() if v is not None and not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    if path and (values or not tables):  # a table holding only tables needs no header
        lines += ["", f"[{'.'.join(toml_key(part) for part in path)}]"]
    for key, value in values:
        _check(key, value)
        lines.append(f"{toml_key(key)} = {_toml_value(value)}")
    for key, value in tables:
        _write_table(value, (*path, key), lines)


def _toml_value(value: Any) -> str:
    """``value`` as JSON, which TOML reads the same, but for DEL, which TOML wants escaped, and
    characters beyond the BMP, which JSON's ASCII escapes would split into surrogates."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _without_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_none(item) for item in value]
    return value


def toml_key(key: str) -> str:
    """``key`` as a TOML key: bare when it may be, else quoted."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _check(key: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParameterError(f"{key} = {value} cannot be written to TOML as JSON.")
    if isinstance(value, list | tuple):
        for item in value:
            _check(key, item)
    elif isinstance(value, dict):
        raise InvalidParameterError(f"{key}: nested tables are not written here.")
