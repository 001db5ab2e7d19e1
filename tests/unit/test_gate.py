from __future__ import annotations

import pytest

from localvision.errors import InvalidParameterError
from localvision.registry.gate import parse_gate


def test_relative_gate_against_an_alias() -> None:
    gate = parse_gate("accuracy >= production - 0.01")
    assert (gate.metric, gate.op, gate.alias, gate.offset) == (
        "accuracy",
        ">=",
        "production",
        -0.01,
    )
    assert gate.check({"accuracy": 0.90}, {"accuracy": 0.905})[0]
    passed, sentence = gate.check({"accuracy": 0.80}, {"accuracy": 0.85})
    assert not passed and "0.8000 >= production 0.8500" in sentence
    assert gate.check({"accuracy": 0.1}, None)[0]  # nothing in production yet


def test_absolute_gates() -> None:
    assert parse_gate("macro_f1 > 0.5").check({"macro_f1": 0.6}, None)[0]
    assert not parse_gate("ece <= 0.05").check({"ece": 0.07}, None)[0]


@pytest.mark.parametrize(
    "text",
    [
        "accuracy >>= 1",
        "loss < 1",
        "accuracy >= production * 2",
        "import os",
        "1 < accuracy",
        "accuracy >= 0.5 >= 0.1",
        "accuracy >= __import__('os')",
    ],
)
def test_unparseable_gates_explain_the_form(text: str) -> None:
    with pytest.raises(InvalidParameterError, match="Cannot parse the gate"):
        parse_gate(text)
