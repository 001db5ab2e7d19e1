"""The fast JSON and base64 codecs answer exactly as the standard library does: same values
for valid input, the same error classes for invalid input."""

from __future__ import annotations

import base64
import binascii
import json
import os

import pytest

from localvision.wire import codec


def test_the_fast_libraries_are_installed_where_the_tests_run() -> None:
    assert codec.FAST_JSON and codec.FAST_BASE64  # the `fast` extra is part of `all`


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 57, 1000, 96_001])
def test_base64_round_trips_like_the_standard_library(size: int) -> None:
    data = os.urandom(size)
    text = base64.b64encode(data).decode()
    assert codec.b64decode(text) == data == codec.b64decode(text.encode())
    assert codec.stdlib_b64decode(text) == data


@pytest.mark.parametrize(
    "bad",
    [
        "abc",  # not a multiple of four
        "YQ",  # padding missing
        "ab!c",
        " YQ==",  # whitespace
        "YQ==\n",
        "YQ==YQ==",  # data after padding
        "YQ=a",
        "-_-_",  # the URL-safe alphabet: its own fallback in the Google wire
        "YWJj\u00e9",  # not ASCII
        "\ud800AAA",  # a lone surrogate
    ],
)
def test_bad_base64_is_refused_by_both(bad: str) -> None:
    with pytest.raises(binascii.Error):
        codec.b64decode(bad)
    with pytest.raises(ValueError):  # the standard library's path, as strict
        codec.stdlib_b64decode(bad)
    with pytest.raises(ValueError):
        base64.b64decode(bad, validate=True)


VALID_JSON = [
    b'{"requests": [{"image": {"content": "AAAA"}, "features": [{"type": 4}]}]}',
    b'[1, -2.5e3, true, false, null, "\\u00e9\\n", {"a": {"b": []}}]',
    '{"é": "ü", "emoji": "😀"}'.encode(),
    b'{"dup": 1, "dup": 2}',
    b"  123  ",
]


@pytest.mark.parametrize("text", VALID_JSON)
def test_json_parses_like_the_standard_library(text: bytes) -> None:
    assert codec.loads(text) == json.loads(text)
    value = json.loads(text)
    assert json.loads(codec.dumps(value)) == value


@pytest.mark.parametrize(
    "bad", [b"", b"{", b"{'a': 1}", b"[1,]", b'{"a" 1}', b"\xff\xfe", b"[" * 2000 + b"]" * 2000]
)
def test_bad_json_is_a_decode_error(bad: bytes) -> None:
    with pytest.raises((json.JSONDecodeError, RecursionError, UnicodeDecodeError)):
        codec.loads(bad)


def test_dumps_is_compact_utf8() -> None:
    assert codec.dumps({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'.encode()
