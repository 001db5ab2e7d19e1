"""Promotion gates: ``accuracy >= production - 0.01``, checked on a holdout set.

The grammar is deliberately tiny: ``METRIC OP TERM``, where METRIC is one of the evaluation's
metrics (``accuracy``, ``top5``, ``macro_f1``, ``ece``) measured for the candidate, OP one of
``>= > <= < ==``, and TERM a number, or an alias name (its version's value of the same metric on
the same data) optionally plus or minus a number. Parsed with :mod:`ast` and never evaluated as
Python.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import InvalidParameterError

__all__ = ["Gate", "parse_gate"]

METRICS = ("accuracy", "top5", "macro_f1", "ece")
_OPS: dict[type[ast.cmpop], tuple[str, Callable[[float, float], bool]]] = {
    ast.GtE: (">=", operator.ge),
    ast.Gt: (">", operator.gt),
    ast.LtE: ("<=", operator.le),
    ast.Lt: ("<", operator.lt),
    ast.Eq: ("==", operator.eq),
}


@dataclass(frozen=True)
class Gate:
    metric: str
    op: str
    alias: str | None
    offset: float
    text: str

    def check(
        self, candidate: Mapping[str, float], reference: Mapping[str, float] | None
    ) -> tuple[bool, str]:
        """Whether the candidate passes, and a sentence with the numbers."""
        value = candidate[self.metric]
        if self.alias is not None and reference is None:
            return True, f"{self.metric} {value:.4f}; no {self.alias} version yet to compare with"
        base = reference[self.metric] if self.alias is not None and reference else 0.0
        threshold = base + self.offset
        compare = next(f for symbol, f in _OPS.values() if symbol == self.op)
        passed = compare(value, threshold)
        against = f"{self.alias} {base:.4f}{self.offset:+.4f}" if self.alias else f"{threshold:.4f}"
        return passed, f"candidate {self.metric} {value:.4f} {self.op} {against} = {threshold:.4f}"


def parse_gate(text: str) -> Gate:
    """Parse a gate expression, or raise an error that shows the expected form."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise _bad(text) from None
    if not isinstance(tree, ast.Compare) or len(tree.ops) != 1:
        raise _bad(text)
    left, op, right = tree.left, tree.ops[0], tree.comparators[0]
    if not isinstance(left, ast.Name) or left.id not in METRICS or type(op) not in _OPS:
        raise _bad(text)
    alias, offset = _term(right, text)
    return Gate(left.id, _OPS[type(op)][0], alias, offset, text)


def _term(node: ast.expr, text: str) -> tuple[str | None, float]:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return None, float(node.value)
    if isinstance(node, ast.Name):
        return node.id, 0.0
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add | ast.Sub)
        and isinstance(node.left, ast.Name)
        and isinstance(node.right, ast.Constant)
        and isinstance(node.right.value, int | float)
    ):
        sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
        return node.left.id, sign * float(node.right.value)
    raise _bad(text)


def _bad(text: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"Cannot parse the gate {text!r}.",
        hint=f'Use METRIC OP TERM, e.g. "accuracy >= production - 0.01"; metrics: '
        f"{', '.join(METRICS)}.",
    )
