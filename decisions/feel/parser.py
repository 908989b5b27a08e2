"""Own FEEL tokenizer and recursive-descent parser (no eval/exec anywhere).

Grammar covered (DMN 1.3 chapter 10, the part a decision table needs):

* unary tests: ``-``, ``not(t, ...)``, comma lists, ``< <= > >= = !=`` endpoint, intervals with open/closed ends
  (``[a..b]``, ``(a..b)``, ``]a..b[``), ``null``, any expression (equality, list/range membership) and ``?`` tests;
* expressions: literals (number, string with escapes, boolean, null, ``@"..."`` temporal), names (also names with
  spaces the caller declares), paths ``a.b``, ``+ - * / **``, unary minus, comparisons, ``between``, ``in``,
  ``and``/``or``, ``if then else``, lists, ranges, calls of built-in functions with positional arguments.

Refused with position (``FeelUnsupportedError``): ``for``, ``some``, ``every``, ``function`` definitions,
``instance of``, contexts ``{...}``, filters ``list[...]``, named arguments, unknown functions.
"""

from __future__ import annotations

from decimal import Decimal

from decisions.errors import FeelSyntaxError, FeelUnsupportedError
from decisions.feel import ast as A

MAX_TEXT = 20_000
MAX_DEPTH = 64

KEYWORDS = {"and", "or", "if", "then", "else", "true", "false", "null", "between", "in", "instance", "of",
            "for", "some", "every", "satisfies", "return", "function"}
UNSUPPORTED_KW = {"for", "some", "every", "satisfies", "return", "function", "instance"}

#: Built-in function names that contain spaces (recognised by the tokenizer as one name).
MULTIWORD_BUILTINS = ("date and time", "string length", "upper case", "lower case", "substring before",
                      "substring after", "starts with", "ends with", "list contains", "day of week",
                      "day of year", "month of year", "week of year", "years and months duration",
                      "round half up", "round half down", "round up", "round down", "string join",
                      "is defined", "index of", "distinct values")

_OPS = ("..", "**", "<=", ">=", "!=", "(", ")", "[", "]", "{", "}", ",", ".", "<", ">", "=", "+", "-", "*", "/",
        "?", ":", "@")


_DIGITS = frozenset("0123456789")


def _is_name_start(c: str) -> bool:
    return c.isalpha() or c == "_"


def _is_name_part(c: str) -> bool:
    return c.isalnum() or c == "_"


class Token:
    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind: str, value, pos: int) -> None:
        self.kind = kind
        self.value = value
        self.pos = pos

    def __repr__(self) -> str:  # pragma: no cover - debug aid
        return f"Token({self.kind},{self.value!r},{self.pos})"


_ESC = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "'": "'", "/": "/"}


def tokenize(text: str, names: tuple[str, ...] = ()) -> list[Token]:
    """Split FEEL text into tokens; ``names`` are extra (multi-word) names to recognise as one token."""
    if len(text) > MAX_TEXT:
        raise FeelSyntaxError(f"text longer than {MAX_TEXT} characters", "", 1)
    multi = sorted({n for n in (*MULTIWORD_BUILTINS, *names) if " " in n}, key=len, reverse=True)
    toks: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n\u00a0":
            i += 1
            continue
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise FeelSyntaxError("unterminated comment", text, i + 1)
            i = j + 2
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            j = i
            while j < n and text[j] in _DIGITS:
                j += 1
            if j < n and text[j] == "." and j + 1 < n and text[j + 1] in _DIGITS:
                j += 1
                while j < n and text[j] in _DIGITS:
                    j += 1
            if j < n and _is_name_start(text[j]):
                raise FeelSyntaxError(f"malformed number {text[i:j + 1]!r}", text, i + 1)
            toks.append(Token("num", Decimal(text[i:j]), i))
            i = j
            continue
        if c == '"':
            j = i + 1
            buf = []
            while True:
                if j >= n:
                    raise FeelSyntaxError("unterminated string", text, i + 1)
                d = text[j]
                if d == '"':
                    break
                if d == "\\":
                    if j + 1 >= n:
                        raise FeelSyntaxError("unterminated string", text, i + 1)
                    e = text[j + 1]
                    if e in _ESC:
                        buf.append(_ESC[e])
                        j += 2
                        continue
                    if e == "u":
                        hexs = text[j + 2:j + 6]
                        if len(hexs) != 4 or any(h not in "0123456789abcdefABCDEF" for h in hexs):
                            raise FeelSyntaxError("bad \\u escape", text, j + 1)
                        buf.append(chr(int(hexs, 16)))
                        j += 6
                        continue
                    raise FeelSyntaxError(f"unknown escape \\{e}", text, j + 1)
                buf.append(d)
                j += 1
            toks.append(Token("str", "".join(buf), i))
            i = j + 1
            continue
        if _is_name_start(c):
            for m in multi:
                if text.startswith(m, i) and (i + len(m) >= n or not _is_name_part(text[i + len(m)])):
                    toks.append(Token("name", m, i))
                    i += len(m)
                    break
            else:
                j = i + 1
                while j < n and _is_name_part(text[j]):
                    j += 1
                w = text[i:j]
                toks.append(Token("kw" if w in KEYWORDS else "name", w, i))
                i = j
            continue
        for op in _OPS:
            if text.startswith(op, i):
                toks.append(Token("op", op, i))
                i += len(op)
                break
        else:
            raise FeelSyntaxError(f"unexpected character {c!r}", text, i + 1)
    toks.append(Token("eof", None, n))
    return toks


class _Parser:
    def __init__(self, text: str, names: tuple[str, ...], functions: frozenset[str]) -> None:
        self.text = text
        self.toks = tokenize(text, names)
        self.i = 0
        self.depth = 0
        self.range_end = 0
        self.functions = functions

    # --- helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.toks[self.i]
        if self.i < len(self.toks) - 1:
            self.i += 1
        return t

    def at(self, kind: str, value=None) -> bool:
        t = self.tok
        return t.kind == kind and (value is None or t.value == value)

    def at_op(self, *vals: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in vals

    def expect_op(self, v: str) -> Token:
        if not self.at_op(v):
            self.fail(f"expected {v!r}")
        return self.next()

    def fail(self, msg: str, tok: Token | None = None):
        t = tok or self.tok
        found = "end of text" if t.kind == "eof" else repr(self.text[t.pos:t.pos + 12])
        raise FeelSyntaxError(f"{msg}, found {found}", self.text, t.pos + 1)

    def unsupported(self, what: str, tok: Token | None = None):
        t = tok or self.tok
        raise FeelUnsupportedError(f"unsupported FEEL construct: {what}", self.text, t.pos + 1)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FeelSyntaxError(f"expression nested deeper than {MAX_DEPTH}", self.text, self.tok.pos + 1)

    def end(self) -> None:
        if not self.at("eof"):
            self.fail("unexpected text after the end")

    # --- expressions
    def expression(self) -> A.Node:
        self.enter()
        try:
            if self.at("kw", "if"):
                t = self.next()
                c = self.expression()
                if not self.at("kw", "then"):
                    self.fail("expected 'then'")
                self.next()
                a = self.expression()
                if not self.at("kw", "else"):
                    self.fail("expected 'else'")
                self.next()
                b = self.expression()
                return A.If(c, a, b, pos=t.pos)
            return self.disjunction()
        finally:
            self.depth -= 1

    def disjunction(self) -> A.Node:
        a = self.conjunction()
        while self.at("kw", "or"):
            t = self.next()
            a = A.Or(a, self.conjunction(), pos=t.pos)
        return a

    def conjunction(self) -> A.Node:
        a = self.comparison()
        while self.at("kw", "and"):
            t = self.next()
            a = A.And(a, self.comparison(), pos=t.pos)
        return a

    def comparison(self) -> A.Node:
        a = self.additive()
        if self.at_op("=", "!=", "<", "<=", ">", ">="):
            t = self.next()
            b = self.additive()
            a = A.Compare(t.value, a, b, pos=t.pos)
            if self.at_op("=", "!=", "<", "<=", ">", ">="):
                self.fail("comparisons cannot be chained")
        elif self.at("kw", "between"):
            t = self.next()
            lo = self.additive()
            if not self.at("kw", "and"):
                self.fail("expected 'and' in between")
            self.next()
            hi = self.additive()
            a = A.Between(a, lo, hi, pos=t.pos)
        elif self.at("kw", "in"):
            t = self.next()
            if self.at_op("(") and self.peek().kind == "op" and self.peek().value in ("<", "<=", ">", ">=", "=",
                                                                                       "!="):
                self.next()
                tests = [self.positive_test()]
                while self.at_op(","):
                    self.next()
                    tests.append(self.positive_test())
                self.expect_op(")")
            else:
                tests = [self.positive_test()]
            a = A.In(a, tuple(tests), pos=t.pos)
        elif self.at("kw", "instance"):
            self.unsupported("'instance of'")
        return a

    def additive(self) -> A.Node:
        a = self.multiplicative()
        while self.at_op("+", "-"):
            t = self.next()
            a = A.Arith(t.value, a, self.multiplicative(), pos=t.pos)
        return a

    def multiplicative(self) -> A.Node:
        a = self.power()
        while self.at_op("*", "/"):
            t = self.next()
            a = A.Arith(t.value, a, self.power(), pos=t.pos)
        return a

    def power(self) -> A.Node:
        a = self.unary()
        while self.at_op("**"):
            t = self.next()
            a = A.Arith("**", a, self.unary(), pos=t.pos)
        return a

    def unary(self) -> A.Node:
        if self.at_op("-"):
            t = self.next()
            self.enter()
            try:
                x = self.unary()
            finally:
                self.depth -= 1
            if isinstance(x, A.Lit) and type(x.value) is Decimal:
                return A.Lit(-x.value, pos=t.pos)
            return A.Neg(x, pos=t.pos)
        return self.postfix()

    def postfix(self) -> A.Node:
        x = self.primary()
        while True:
            if self.at_op("."):
                self.next()
                t = self.tok
                if t.kind not in ("name", "kw"):
                    self.fail("expected a name after '.'")
                self.next()
                x = A.Path(x, t.value, pos=t.pos)
            elif self.at_op("[") and not self.range_end:
                self.unsupported("filter expression 'list[...]'")
            elif self.at_op("("):
                self.unsupported("calling a value that is not a built-in function name")
            else:
                return x

    def args(self) -> tuple[A.Node, ...]:
        self.expect_op("(")
        out: list[A.Node] = []
        if self.at_op(")"):
            self.next()
            return ()
        while True:
            if self.tok.kind == "name" and self.peek().kind == "op" and self.peek().value == ":":
                self.unsupported("named arguments")
            out.append(self.expression())
            if self.at_op(","):
                self.next()
                continue
            self.expect_op(")")
            return tuple(out)

    def range_rest(self, lo: A.Node, lo_closed: bool, t: Token) -> A.Node:
        self.expect_op("..")
        self.range_end += 1
        try:
            hi = self.expression()
        finally:
            self.range_end -= 1
        if self.at_op("]"):
            hi_closed = True
        elif self.at_op(")", "["):
            hi_closed = False
        else:
            self.fail("expected ']', ')' or '[' to close the interval")
        self.next()
        return A.RangeLit(lo, hi, lo_closed, hi_closed, pos=t.pos)

    def primary(self) -> A.Node:
        t = self.tok
        if t.kind == "num":
            self.next()
            return A.Lit(t.value, pos=t.pos)
        if t.kind == "str":
            self.next()
            return A.Lit(t.value, pos=t.pos)
        if t.kind == "kw":
            if t.value in ("true", "false"):
                self.next()
                return A.Lit(t.value == "true", pos=t.pos)
            if t.value == "null":
                self.next()
                return A.Lit(None, pos=t.pos)
            if t.value in UNSUPPORTED_KW:
                self.unsupported(f"'{t.value}' expression")
            self.fail("expected an expression")
        if t.kind == "name":
            self.next()
            if self.at_op("("):
                if t.value not in self.functions:
                    raise FeelUnsupportedError(f"unknown or unsupported function {t.value!r}", self.text,
                                               t.pos + 1)
                return A.Call(t.value, self.args(), pos=t.pos)
            return A.Name(t.value, pos=t.pos)
        if t.kind == "op":
            v = t.value
            if v == "?":
                self.next()
                return A.QMark(pos=t.pos)
            if v == "@":
                self.next()
                s = self.tok
                if s.kind != "str":
                    self.fail("expected a string after '@'")
                self.next()
                return A.Call("@", (A.Lit(s.value, pos=s.pos),), pos=t.pos)
            if v == "(":
                self.next()
                self.enter()
                try:
                    x = self.expression()
                    if self.at_op(".."):
                        return self.range_rest(x, False, t)
                    self.expect_op(")")
                    return x
                finally:
                    self.depth -= 1
            if v == "]":
                self.next()
                lo = self.expression()
                return self.range_rest(lo, False, t)
            if v == "[":
                self.next()
                self.enter()
                try:
                    if self.at_op("]"):
                        self.next()
                        return A.ListLit((), pos=t.pos)
                    x = self.expression()
                    if self.at_op(".."):
                        return self.range_rest(x, True, t)
                    items = [x]
                    while self.at_op(","):
                        self.next()
                        items.append(self.expression())
                    self.expect_op("]")
                    return A.ListLit(tuple(items), pos=t.pos)
                finally:
                    self.depth -= 1
            if v == "{":
                self.unsupported("context literal '{...}'")
        self.fail("expected an expression")

    # --- unary tests
    def positive_test(self) -> A.Node:
        t = self.tok
        if self.at_op("<", "<=", ">", ">=", "=", "!="):
            self.next()
            e = self.additive()
            if A.uses_qmark(e):
                self.unsupported("'?' inside a comparison endpoint", t)
            return A.UCompare(t.value, e, pos=t.pos)
        e = self.expression()
        if isinstance(e, A.RangeLit):
            return A.URange(e.lo, e.hi, e.lo_closed, e.hi_closed, pos=e.pos)
        return A.UExpr(e, A.uses_qmark(e), pos=t.pos)

    def unary_tests(self) -> A.UnaryTests:
        if self.at("eof"):
            return A.UnaryTests((A.UAny(pos=0),))
        if self.at_op("-") and self.peek().kind == "eof":
            return A.UnaryTests((A.UAny(pos=self.tok.pos),))
        t = self.tok
        if t.kind == "name" and t.value == "not" and self.peek().kind == "op" and self.peek().value == "(":
            # not(...) negates the whole list only if its ')' is the last token
            save = self.i
            self.next()
            self.next()
            try:
                tests = self._test_list()
                if self.at_op(")") and self.peek().kind == "eof":
                    self.next()
                    return A.UnaryTests(tuple(tests), negated=True, pos=t.pos)
            except FeelSyntaxError:
                pass
            self.i = save
        tests = self._test_list()
        self.end()
        return A.UnaryTests(tuple(tests), pos=t.pos)

    def _test_list(self) -> list[A.Node]:
        tests = [self.positive_test()]
        while self.at_op(","):
            self.next()
            tests.append(self.positive_test())
        return tests


def parse_expression(text: str, names: tuple[str, ...] = (), functions: frozenset[str] | None = None) -> A.Node:
    """Parse a FEEL expression; raises FeelSyntaxError / FeelUnsupportedError with position."""
    from decisions.feel.builtins import BUILTINS

    p = _Parser(text, names, functions if functions is not None else frozenset(BUILTINS))
    if p.at("eof"):
        raise FeelSyntaxError("empty expression", text, 1)
    e = p.expression()
    p.end()
    return e


def parse_unary_tests(text: str, names: tuple[str, ...] = (),
                      functions: frozenset[str] | None = None) -> A.UnaryTests:
    """Parse a FEEL unary-tests text (a decision-table input entry)."""
    from decisions.feel.builtins import BUILTINS

    p = _Parser(text, names, functions if functions is not None else frozenset(BUILTINS))
    return p.unary_tests()
