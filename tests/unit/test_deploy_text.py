"""The YAML and TOML writers behind the rendered files: what they write reads back the same."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
import yaml

from localvision.deploy.toml_text import toml_key, toml_table
from localvision.deploy.yaml_text import Note, dump
from localvision.errors import InvalidParameterError

TRICKY = [
    "true",
    "No",
    "null",
    "~",
    "8080",
    "0.5",
    "1e3",
    "0x1F",
    "010",
    "-v",
    "--model",
    "a: b",
    "#not a comment",
    "key: [1, 2]",
    "",
    " leading space",
    "line\nbreak",
    'quote " and \\ backslash',
    "é ünïcode",
    "s3://models/pets/3/",
    "pets=file:///mnt/models",
    "app.kubernetes.io/name",
    "@at",
    "*star",
    "&anchor",
    "!tag",
    "%percent",
    "{brace}",
    "'single'",
]


@pytest.mark.parametrize("text", TRICKY)
def test_strings_read_back_as_the_same_strings(text: str) -> None:
    document = {"value": text, "list": [text], text or "empty": "key"}
    assert yaml.safe_load(dump(document)) == document


def test_structures_numbers_and_notes_read_back() -> None:
    document: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "spec": Note(
            "A long comment that the writer wraps over several lines because it is much longer "
            "than the width of the page that a platform engineer reads it on, by far.",
            {
                "replicas": 2,
                "ratio": 0.7,
                "enabled": True,
                "nothing": None,
                "empty_map": {},
                "empty_list": [],
                "containers": [
                    {"name": Note("the first key's comment", "server"), "args": ["a", "b"]},
                    Note("an item's comment", {"name": "sidecar"}),
                    ["nested", ["deeper"]],
                ],
            },
        ),
    }
    text = dump(document, header="header line\n  an indented command line")
    loaded = yaml.safe_load(text)
    spec = document["spec"].value
    spec["containers"] = [
        {"name": "server", "args": ["a", "b"]},
        {"name": "sidecar"},
        ["nested", ["deeper"]],
    ]
    assert loaded == {"apiVersion": "apps/v1", "spec": spec}
    lines = text.splitlines()
    assert lines[0] == "# header line" and lines[1] == "#   an indented command line"
    assert all(len(line) <= 100 for line in lines)
    assert "\n# A long comment that the writer wraps" in text
    assert "    # the first key's comment\n    - name: server" in text
    assert "    # an item's comment\n    - name: sidecar" in text


def test_several_documents_are_separated() -> None:
    text = dump({"kind": "A"}, {"kind": "B"})
    assert list(yaml.safe_load_all(text)) == [{"kind": "A"}, {"kind": "B"}]


def test_a_scalar_document_is_refused() -> None:
    with pytest.raises(TypeError):
        dump("just a string")


def test_toml_tables_read_back() -> None:
    values = {
        "labels": ["red", "green", 'say "hi"'],
        "mean": [0.485, 0.456, 0.406],
        "input_size": 224,
        "input_range": "0..1",
        "flag": False,
        "dropped": None,
        "odd key": "x",
    }
    text = toml_table(values, header='models."pets.v2"')
    assert tomllib.loads(text) == {
        "models": {"pets.v2": {k: v for k, v in values.items() if v is not None}}
    }
    assert toml_key("pets") == "pets" and toml_key("pets.v2") == '"pets.v2"'


@pytest.mark.parametrize("value", [float("nan"), {"nested": 1}, [float("inf")]])
def test_values_toml_cannot_hold_are_refused(value: Any) -> None:
    with pytest.raises(InvalidParameterError):
        toml_table({"x": value})


@pytest.mark.parametrize(
    "text",
    [
        'a = 1\n[table]\nkey = "value"\n',  # a file: one final line break
        "first\n  indented\n\n# not a comment\n- not a list\nkey: not a map",  # none
        "trailing space \nnext\n",  # not literal-safe: quoted instead
        " leading space\nnext\n",
        "two breaks\n\n",
        "tab\there\n",
    ],
)
def test_multi_line_text_reads_back_the_same(text: str) -> None:
    document = {"data": {"file": text}, "items": [text]}
    assert yaml.safe_load(dump(document)) == document


def test_a_file_in_a_mapping_is_written_as_a_literal_block() -> None:
    text = dump({"data": {"localvision.toml": "[ray]\nnum_replicas = 2\n"}})
    assert text == "data:\n  localvision.toml: |\n    [ray]\n    num_replicas = 2\n"
    assert '"trailing \\nx"' in dump({"k": "trailing \nx"})  # not safe in a block: quoted


def test_toml_documents_read_back() -> None:
    from localvision.deploy.toml_text import toml_document

    data: dict[str, Any] = {
        "threads": 2,
        "providers": ["cuda", "cpu"],
        "nothing": None,
        "server": {"api_keys": ["sha256:" + "ab" * 32], "aws_credentials": {"AKID": "s3cr3t"}},
        "models": {"pets.v2": {"path": "s3://b/pets/3/", "card": {"mean": [0.5, 0.5]}}},
        "ray": {"replica_cpus": 2.0, "autoscaling": {}},
        "names": {"é ünï": "ok", "controls": "bell\x07 del\x7f tab\t", "emoji": "\U0001f600"},
    }
    text = toml_document(data)
    expected = {k: v for k, v in data.items() if v is not None}
    assert tomllib.loads(text) == expected
    assert "[ray.autoscaling]" in text  # an empty table keeps its header: it means something
    assert '[models."pets.v2".card]' in text
    assert "[models]" not in text  # a table holding only tables needs none
    assert toml_document({}) == ""


@pytest.mark.parametrize("value", [[{"a": 1}], float("nan"), [None]])
def test_toml_documents_refuse_what_toml_cannot_hold(value: Any) -> None:
    from localvision.deploy.toml_text import toml_document

    with pytest.raises(InvalidParameterError):
        toml_document({"table": {"x": value}})
