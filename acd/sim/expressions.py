"""Dialplan expressions: ``${...}`` substitution, the dialplan functions, ``$[...]`` arithmetic
and comparison, as pbx_substitute_variables and ast_expr2 give them (the subset acd's dialplans
use).

Functions: CALLERID, IF, DB, DB_EXISTS, LEN, STRFTIME, URIENCODE, URIDECODE here; the ones bound to a
channel (CURL, CURLOPT, HASH, HASHKEYS) come from ``channel_functions`` through ``Env.functions``.
Substitution is asynchronous because ``CURL()`` waits for a server, as Asterisk's does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from acd.sim.curl import uri_decode, uri_encode
from acd.sim.dialplan import DialplanError, separate_args

# ---- substitution -------------------------------------------------------------------------------

ChannelFunction = Callable[[str], Awaitable[str]]


@dataclass
class Env:
    """What substitution can read: channel variables, built-ins, AstDB, and the functions bound
    to the channel (``functions``: name -> coroutine taking the raw argument text)."""

    variables: Mapping[str, str]
    builtins: Mapping[str, str]
    db: Mapping[str, str]
    clock: Callable[[], float] = time.time
    functions: Mapping[str, ChannelFunction] = field(default_factory=dict)


async def substitute(text: str, env: Env, where: str) -> str:
    """Expand ``${...}`` and ``$[...]`` (innermost first), as pbx_substitute_variables does."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if text.startswith("${", i) or text.startswith("$[", i):
            opener = text[i + 1]
            closer = "}" if opener == "{" else "]"
            depth = 1
            j = i + 2
            while j < n and depth:
                if text.startswith("${", j) or text.startswith("$[", j):
                    depth += 1
                    j += 2
                    continue
                if text[j] == closer or (text[j] in "}]" and depth > 1):
                    depth -= 1
                j += 1
            if depth:
                raise DialplanError(f"{where}: unterminated ${opener} in {text!r}")
            inner = await substitute(text[i + 2 : j - 1], env, where)
            out.append(await _lookup(inner, env, where) if opener == "{" else evaluate(inner, where))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


_FUNC = re.compile(r"^([A-Z_][A-Z0-9_]*)\((.*)\)$", re.DOTALL)


async def _lookup(name: str, env: Env, where: str) -> str:
    offset = None
    m = re.fullmatch(r"(.*?):(-?\d+)(?::(\d+))?", name)
    if m and m.group(1).count("(") == m.group(1).count(")"):
        name, offset = m.group(1), (int(m.group(2)), int(m.group(3)) if m.group(3) else None)
    fm = _FUNC.match(name)
    if fm:
        value = await call_function(fm.group(1), fm.group(2), env, where)
    elif name == "EPOCH":
        value = str(int(env.clock()))
    elif name in env.variables:
        value = env.variables[name]
    elif name in env.builtins:
        value = env.builtins[name]
    else:
        value = ""
    if offset is not None:
        start, length = offset
        value = value[start:] if length is None else value[start : start + length]
    return value


async def call_function(name: str, arg: str, env: Env, where: str) -> str:
    bound = env.functions.get(name)
    if bound is not None:
        return await bound(arg)
    if name == "STRFTIME":
        return strftime(arg, time.time())
    if name == "URIENCODE":
        return uri_encode(arg)
    if name == "URIDECODE":
        return uri_decode(arg)
    if name == "CALLERID":
        key = arg.strip().lower()
        if key in ("num", "number"):
            return env.variables.get("CALLERID(num)", env.builtins.get("CALLERID(num)", ""))
        if key == "name":
            return env.variables.get("CALLERID(name)", env.builtins.get("CALLERID(name)", ""))
        raise DialplanError(f"{where}: CALLERID({arg}) is not supported (num, name)")
    if name == "IF":
        cond, q, rest = arg.partition("?")
        if not q:
            raise DialplanError(f"{where}: IF() needs 'condition?true:false'")
        yes, _, no = rest.partition(":")
        return yes if _truthy(cond) else no
    if name == "DB":
        return env.db.get("/" + arg.strip().strip("/"), "")
    if name == "LEN":
        return str(len(arg))
    if name == "DB_EXISTS":
        return "1" if ("/" + arg.strip().strip("/")) in env.db else "0"
    raise DialplanError(f"{where}: function {name}() is not supported by the simulator")


def strftime(arg: str, now: float) -> str:
    """``STRFTIME(epoch,timezone,format)``: strftime(3) in UTC (the timezone argument is not
    simulated), with Asterisk's ``%[n]q`` for fractions of a second. An empty epoch is now on the
    wall clock, not the simulated one: what a dialplan measures with it is how long something that
    runs in wall time took (``CURL()``, as on a real Asterisk), whatever the simulation's speed."""
    parts = separate_args(arg, limit=3)
    epoch_text = parts[0].strip() if parts else ""
    fmt = parts[2] if len(parts) > 2 else "%c"
    try:
        at = float(epoch_text) if epoch_text else now
    except ValueError:
        at = now

    def fraction(m: re.Match[str]) -> str:
        digits = int(m.group(1) or 3)
        return f"{int((at % 1) * 10**digits):0{digits}d}"

    fmt = re.sub(r"%([1-6])?q", fraction, fmt)
    fmt = fmt.replace("%s", str(int(at)))
    return time.strftime(fmt, time.gmtime(at))


def _truthy(v: str) -> bool:
    v = v.strip()
    return v not in ("", "0")


# ---- $[ ] expressions -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"[^"]*")|(?P<op>!=|<=|>=|=~|[=<>|&+\-*/%!()?:])|(?P<word>[^\s=<>|&+\-*/%!()?:"]+))'
)


def evaluate(expr: str, where: str = "<expr>") -> str:
    """Asterisk's ``$[...]``: | & = != < > <= >= + - * / % ! and parentheses; numbers compare
    as numbers, anything else as strings; true is "1", false "0"."""
    tokens: list[str] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            raise DialplanError(f"{where}: cannot evaluate $[{expr}]")
        tok = m.group("str") or m.group("op") or m.group("word")
        if tok is not None:
            tokens.append(tok)
        pos = m.end()
    if not tokens:
        return ""
    p = _Parser(tokens, where, expr)
    value = p.expr_or()
    if p.i != len(tokens):
        raise DialplanError(f"{where}: cannot evaluate $[{expr}]")
    return value


def _num(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


class _Parser:
    def __init__(self, tokens: list[str], where: str, expr: str):
        self.t = tokens
        self.i = 0
        self.where = where
        self.expr = expr

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> str:
        if self.i >= len(self.t):
            raise DialplanError(f"{self.where}: incomplete $[{self.expr}]")
        tok = self.t[self.i]
        self.i += 1
        return tok

    def expr_or(self) -> str:
        left = self.expr_and()
        while self.peek() == "|":
            self.take()
            right = self.expr_and()
            left = left if _truthy(left) else (right if _truthy(right) else "0")
        return left

    def expr_and(self) -> str:
        left = self.expr_cmp()
        while self.peek() == "&":
            self.take()
            right = self.expr_cmp()
            left = left if _truthy(left) and _truthy(right) else "0"
        return left

    def expr_cmp(self) -> str:
        left = self.expr_add()
        while self.peek() in ("=", "!=", "<", ">", "<=", ">="):
            op = self.take()
            right = self.expr_add()
            a, b = _num(left), _num(right)
            pair: tuple[float, float] | tuple[str, str] = (
                (a, b) if a is not None and b is not None else (left, right)
            )
            x, y = pair
            res = {
                "=": x == y,
                "!=": x != y,
                "<": x < y,  # type: ignore[operator]
                ">": x > y,  # type: ignore[operator]
                "<=": x <= y,  # type: ignore[operator]
                ">=": x >= y,  # type: ignore[operator]
            }[op]
            left = "1" if res else "0"
        return left

    def expr_add(self) -> str:
        left = self.expr_mul()
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.expr_mul()
            a, b = _num(left), _num(right)
            if a is None or b is None:
                raise DialplanError(f"{self.where}: non-numeric operand in $[{self.expr}]")
            left = _fmt(a + b if op == "+" else a - b)
        return left

    def expr_mul(self) -> str:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()
            right = self.unary()
            a, b = _num(left), _num(right)
            if a is None or b is None or (op != "*" and b == 0):
                raise DialplanError(f"{self.where}: bad operands in $[{self.expr}]")
            left = _fmt(a * b if op == "*" else (int(a) // int(b) if op == "/" else a % b))
        return left

    def unary(self) -> str:
        tok = self.peek()
        if tok == "!":
            self.take()
            return "0" if _truthy(self.unary()) else "1"
        if tok == "-":
            self.take()
            v = _num(self.unary())
            if v is None:
                raise DialplanError(f"{self.where}: bad operand in $[{self.expr}]")
            return _fmt(-v)
        if tok == "(":
            self.take()
            inner = self.expr_or()
            if self.take() != ")":
                raise DialplanError(f"{self.where}: missing ) in $[{self.expr}]")
            return inner
        tok = self.take()
        if tok.startswith('"') and tok.endswith('"'):
            return tok[1:-1]
        return tok
