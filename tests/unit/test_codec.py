"""The request and response codecs: orjson and pybase64 answering as the standard library
does on valid input, and refusing what they refuse as the standard library's errors."""

from __future__ import annotations

import base64
import binascii
import json
import os

import pytest

from localvision.wire import codec


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 57, 1000, 96_001])
def test_base64_round_trips_like_the_standard_library(size: int) -> None:
    data = os.urandom(size)
    text = base64.b64encode(data).decode()
    assert codec.b64decode(text) == data == codec.b64decode(text.encode())


@pytest.mark.parametrize("text", ["AAAA=", "AAAA==", "YWJj="])
def test_what_the_standard_library_accepts_is_accepted(text: str) -> None:
    """Excess padding: pybase64 refuses it, the strict standard decoder does not."""
    assert codec.b64decode(text) == base64.b64decode(text, validate=True)


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
        "YQ===",  # excess padding after a partial group
        "YWI==",
        "-_-_",  # the URL-safe alphabet: its own fallback in the Google wire
        "YWJj\u00e9",  # not ASCII
        "\ud800AAA",  # a lone surrogate
        b"YW\xffJj",
    ],
)
def test_bad_base64_is_a_binascii_error_as_in_the_standard_library(bad: str | bytes) -> None:
    with pytest.raises(binascii.Error):
        codec.b64decode(bad)
    with pytest.raises(ValueError):
        base64.b64decode(bad, validate=True)


VALID_JSON = [
    b'{"requests": [{"image": {"content": "AAAA"}, "features": [{"type": 4}]}]}',
    b'[1, -2.5e3, true, false, null, "\\u00e9\\n", {"a": {"b": []}}]',
    '{"é": "ü", "emoji": "😀"}'.encode(),
    b'{"dup": 1, "dup": 2}',
    b"  123  ",
    b"[9223372036854775807, -9223372036854775808, 1e308]",
]


@pytest.mark.parametrize("text", VALID_JSON)
def test_json_parses_like_the_standard_library(text: bytes) -> None:
    assert codec.loads(text) == json.loads(text)
    value = json.loads(text)
    assert json.loads(codec.dumps(value)) == value


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"{",
        b"{'a': 1}",
        b"[1,]",
        b'{"a" 1}',
        b"\xff\xfe",
        b"[" * 2000 + b"]" * 2000,  # deeper than 1,024 levels
        # accepted by the standard library, refused here (see the module's docstring)
        b"[NaN]",
        b"[Infinity]",
        b"[1e400]",
        b"\xef\xbb\xbf[1]",  # a byte-order mark
        b'["\\ud800"]',  # a lone surrogate
    ],
)
def test_bad_json_is_a_json_decode_error(bad: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        codec.loads(bad)


def test_dumps_is_compact_utf8() -> None:
    assert codec.dumps({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'.encode()
