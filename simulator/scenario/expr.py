"""Address and size expressions in scenario files: ``"stack - 4K"``, ``"t3.stack - 0x1000"``.

Grammar (no Python eval)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := "-" unary | atom
    atom   := NUMBER | SIZE | NAME ("." ATTR)? | "(" expr ")"

NUMBER is decimal or 0x-hex; SIZE a number with K, M, G or T (binary units). NAME is a step's
result name, a thread (``t3``), or a built-in: ``brk``, ``start_brk``, ``mmap_base``,
``mmap_legacy_base``, ``task_size``, ``stack`` (the main stack VMA), ``heap``. ATTR is
``start``, ``end`` or ``size`` for mappings, ``stack`` (the block's low end, guard included),
``stack_end`` and ``guard_end`` for threads. A bare mapping name is its start.
"""

from __future__ import annotations

import re

import attrs

from simulator.limits import MAX_EXPR_CHARS, MAX_EXPR_DEPTH, MAX_EXPR_TOKENS, MAX_VALUE
from simulator.units import check_number_length

_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)([kKmMgGtT])?(?:i?[bB])?|([A-Za-z_][A-Za-z0-9_]*)"
                    r"(?:\.([A-Za-z_]+))?|(.))")
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
BUILTINS = frozenset({"brk", "start_brk", "mmap_base", "mmap_legacy_base", "task_size", "stack",
                      "heap"})
ATTRIBUTES = frozenset({"start", "end", "size", "stack", "stack_end", "guard_end"})


class ExprError(ValueError):
    """A malformed expression, or a name that is not defined."""


@attrs.frozen
class Expr:
    """A parsed expression: its text, its tree, and the names it uses."""

    text: str
    tree: tuple
    names: frozenset[str]

    def evaluate(self, resolve) -> int:
        """``resolve(name, attr)`` gives the value of a name (raising ExprError if unknown)."""
        return _eval(self.tree, resolve)


def parse(text: str | int) -> Expr:
    """Parse an expression. Bounded (simulator/limits.py): at most MAX_EXPR_CHARS characters,
    MAX_EXPR_TOKENS tokens, MAX_EXPR_DEPTH nested parentheses, and numbers below 2**64, so
    that neither parsing nor evaluation can recurse deeply or build huge integers."""
    if isinstance(text, int):
        if not -MAX_VALUE <= text <= MAX_VALUE:
            raise ExprError(f"{text} does not fit in 64 bits")
        return Expr(str(text), ("num", text), frozenset())
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression too long ({len(text)} characters; at most {MAX_EXPR_CHARS})")
    tokens = []
    for m in _TOKEN.finditer(text):
        number, unit, name, attr, other = m.groups()
        if len(tokens) >= MAX_EXPR_TOKENS:
            raise ExprError(f"expression too long (more than {MAX_EXPR_TOKENS} numbers, names "
                            "and operators)")
        if number is not None:
            try:
                check_number_length(number)
            except ValueError as err:
                raise ExprError(str(err)) from None
            value = int(number, 0) * (_UNITS[unit.lower()] if unit else 1)
            if value > MAX_VALUE:
                raise ExprError(f"{m.group(0).strip()} does not fit in 64 bits")
            tokens.append(("num", value))
        elif name is not None:
            if attr is not None and attr not in ATTRIBUTES:
                raise ExprError(f"unknown attribute '.{attr}' in {text!r} "
                                f"(known: {', '.join(sorted(ATTRIBUTES))})")
            tokens.append(("name", name, attr))
        elif other is not None and other.strip():
            if other not in "+-*/()":
                raise ExprError(f"unexpected {other!r} in {text!r}")
            tokens.append(("op", other))
    if not tokens:
        raise ExprError("empty expression")
    parser = _Parser(tokens, text)
    tree = parser.expr()
    if parser.pos != len(tokens):
        raise ExprError(f"unexpected text after position {parser.pos} in {text!r}")
    names = frozenset(t[1] for t in tokens if t[0] == "name")
    return Expr(text, tree, names)


class _Parser:
    def __init__(self, tokens, text):
        self.tokens, self.pos, self.text = tokens, 0, text
        self.depth = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        token = self.peek()
        if token is None:
            raise ExprError(f"incomplete expression {self.text!r}")
        self.pos += 1
        return token

    def expr(self):
        node = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            node = (op, node, self.term())
        return node

    def term(self):
        node = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            node = (op, node, self.unary())
        return node

    def unary(self):
        if self.peek() == ("op", "-"):
            self.take()
            return ("neg", self.unary())
        return self.atom()

    def atom(self):
        token = self.take()
        if token[0] == "num":
            return token
        if token[0] == "name":
            return token
        if token == ("op", "("):
            self.depth += 1
            if self.depth > MAX_EXPR_DEPTH:
                raise ExprError(f"parentheses nested too deeply in {self.text!r} "
                                f"(at most {MAX_EXPR_DEPTH} levels)")
            node = self.expr()
            self.depth -= 1
            if self.take() != ("op", ")"):
                raise ExprError(f"missing ')' in {self.text!r}")
            return node
        raise ExprError(f"unexpected {token[1]!r} in {self.text!r}")


def _eval(node, resolve) -> int:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "name":
        return resolve(node[1], node[2])
    if kind == "neg":
        return -_eval(node[1], resolve)
    left, right = _eval(node[1], resolve), _eval(node[2], resolve)
    if kind == "+":
        return left + right
    if kind == "-":
        return left - right
    if kind == "*":
        return left * right
    if right == 0:
        raise ExprError("division by zero")
    return left // right
