"""FEEL (Friendly Enough Expression Language, DMN 1.3 chapter 10): own tokenizer, parser and compiler."""

from decisions.feel.compile import compile_expr, compile_tests
from decisions.feel.parser import parse_expression, parse_unary_tests
from decisions.feel.values import feel_text, to_feel


def evaluate_expression(text: str, context: dict | None = None, names: tuple[str, ...] = ()):
    """Parse, compile and evaluate one FEEL expression against ``context`` (Python values are normalised)."""
    ctx = {k: to_feel(v) for k, v in (context or {}).items()}
    return compile_expr(parse_expression(text, names), text).fn(ctx)


def test_unary(text: str, value, context: dict | None = None, names: tuple[str, ...] = ()):
    """Evaluate unary tests ``text`` against ``value``: True, False or None (null)."""
    ctx = {k: to_feel(v) for k, v in (context or {}).items()}
    f = compile_tests(parse_unary_tests(text, names), text)
    return True if f is None else f(to_feel(value), ctx)


__all__ = ["compile_expr", "compile_tests", "parse_expression", "parse_unary_tests", "feel_text", "to_feel",
           "evaluate_expression", "test_unary"]
