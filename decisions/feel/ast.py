"""FEEL abstract syntax tree (expressions and unary tests). ``pos`` is the 0-based offset in the source text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Node:
    pos: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True)
class Lit(Node):
    value: Any


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class QMark(Node):
    pass


@dataclass(frozen=True)
class Path(Node):
    base: Node
    name: str


@dataclass(frozen=True)
class Call(Node):
    fname: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Neg(Node):
    x: Node


@dataclass(frozen=True)
class Arith(Node):
    op: str
    a: Node
    b: Node


@dataclass(frozen=True)
class Compare(Node):
    op: str
    a: Node
    b: Node


@dataclass(frozen=True)
class Between(Node):
    x: Node
    lo: Node
    hi: Node


@dataclass(frozen=True)
class In(Node):
    x: Node
    tests: tuple[Node, ...]


@dataclass(frozen=True)
class And(Node):
    a: Node
    b: Node


@dataclass(frozen=True)
class Or(Node):
    a: Node
    b: Node


@dataclass(frozen=True)
class If(Node):
    cond: Node
    then: Node
    other: Node


@dataclass(frozen=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class RangeLit(Node):
    lo: Node
    hi: Node
    lo_closed: bool
    hi_closed: bool


# ----- unary tests ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UAny(Node):
    """``-``: matches every value, null included."""


@dataclass(frozen=True)
class UCompare(Node):
    """``< e``, ``<= e``, ``> e``, ``>= e``, ``= e``, ``!= e``."""

    op: str
    endpoint: Node


@dataclass(frozen=True)
class URange(Node):
    lo: Node
    hi: Node
    lo_closed: bool
    hi_closed: bool


@dataclass(frozen=True)
class UExpr(Node):
    """A positive unary test given as an expression (equality, list / range membership, or a ``?`` test)."""

    expr: Node
    uses_q: bool


@dataclass(frozen=True)
class UnaryTests(Node):
    """Disjunction of positive tests, optionally negated as a whole (``not(...)``)."""

    tests: tuple[Node, ...]
    negated: bool = False


def walk(node: Any):
    """Yield every node of a tree (pre-order)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if not isinstance(n, Node):
            continue
        yield n
        for k in n.__dataclass_fields__:
            if k == "pos":
                continue
            v = getattr(n, k)
            if isinstance(v, Node):
                stack.append(v)
            elif isinstance(v, tuple):
                stack.extend(x for x in v if isinstance(x, Node))


def free_names(node: Any) -> set[str]:
    """Top-level variable names a tree reads (``a.b`` reads ``a``); function names excluded."""
    return {n.name for n in walk(node) if isinstance(n, Name)}


def uses_qmark(node: Any) -> bool:
    return any(isinstance(n, QMark) for n in walk(node))
