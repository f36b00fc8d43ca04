"""How ``ACD_*`` environment variables become settings, and how a mistake in one is reported.

Three things an operator expects that pydantic-settings does not do by itself:

- a list written the way people write lists on a command line: ``ACD_DISPOSITIONS=sale,other``
  means the same as ``ACD_DISPOSITIONS='["sale","other"]'`` (JSON still works);
- a mistake is one line naming the variable, the problem and what was given
  (``ACD_QUEUES: input should be a valid dictionary (got 'nope')``), never a traceback, and never
  the value of a secret;
- a misspelt variable (``ACD_HTTP_PORT`` for ``ACD_HTTP__PORT``) is not silently ignored: it is
  named, with the closest real one.

All of it is computed from the settings model, so a setting added later is covered without
touching this module.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

__all__ = [
    "DELIMITER",
    "PREFIX",
    "ListFormEnvSource",
    "describe_error",
    "is_model",
    "suggest",
    "unknown_variables",
    "unwrap_optional",
    "variable_names",
]

PREFIX = "ACD_"
DELIMITER = "__"
_SCALARS = (str, int, float, bool)
_COLLECTIONS = (list, set, frozenset, tuple)
_SHOWN_MAX = 70


def unwrap_optional(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _base(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` reduced to ``X``."""
    annotation = unwrap_optional(annotation)
    while get_origin(annotation) is typing.Annotated:
        annotation = unwrap_optional(get_args(annotation)[0])
    return annotation


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_scalar_collection(annotation: Any) -> bool:
    """``list[str]``, ``frozenset[int]``...: a collection whose items are plain values."""
    annotation = _base(annotation)
    if get_origin(annotation) not in _COLLECTIONS:
        return False
    items = [_base(a) for a in get_args(annotation) if a is not Ellipsis]
    return all(
        (isinstance(item, type) and issubclass(item, _SCALARS)) or get_origin(item) is typing.Literal
        for item in items
    )


class ListFormEnvSource(EnvSettingsSource):
    """The environment source, with lists of plain values also accepted comma-separated.

    A value that is not valid JSON is handed to validation as the raw string (instead of
    pydantic-settings' ``SettingsError``, which names neither the variable nor the value), so the
    error names the variable and the shape it wants.
    """

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
            failed = True
        else:
            failed = False
        if field is not None and _is_scalar_collection(field.annotation):
            if not failed and isinstance(decoded, list):
                return decoded
            if str(value).lstrip().startswith("["):
                return value  # meant as JSON but broken: validation says so
            return [part.strip() for part in str(value).split(",") if part.strip()]
        return value if failed else decoded

    def explode_env_vars(
        self, field_name: str, field: FieldInfo, env_vars: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """Nested variables; an empty one for a list (``ACD_AFFINITY__AGENTS=``) is the empty list,
        as at the top level (pydantic-settings skips decoding empty nested values)."""
        exploded = super().explode_env_vars(field_name, field, env_vars)
        _empty_lists(_base(field.annotation), exploded)
        return exploded


def _empty_lists(annotation: Any, values: dict[str, Any]) -> None:
    if not is_model(annotation):
        return
    for name, value in values.items():
        inner = annotation.model_fields.get(name)
        if inner is None:
            continue
        if value == "" and _is_scalar_collection(inner.annotation):
            values[name] = []
        elif isinstance(value, dict):
            _empty_lists(_base(inner.annotation), value)


# --- names ----------------------------------------------------------------------------------------


def variable_names(model: type[BaseModel], prefix: str = PREFIX) -> tuple[frozenset[str], frozenset[str]]:
    """Every variable the model reads, and the prefixes under which any name is valid (maps:
    ``ACD_QUEUES__SALES__WRAPUP_SECONDS``). A nested section is a variable itself, as JSON."""
    exact: set[str] = set()
    open_prefixes: set[str] = set()
    for name, field in model.model_fields.items():
        env = prefix + name.upper()
        exact.add(env)
        annotation = _base(field.annotation)
        if is_model(annotation):
            inner, inner_open = variable_names(annotation, env + DELIMITER)
            exact |= inner
            open_prefixes |= inner_open
        elif get_origin(annotation) is dict or annotation is dict:
            open_prefixes.add(env + DELIMITER)
    return frozenset(exact), frozenset(open_prefixes)


def suggest(name: str, candidates: frozenset[str]) -> str | None:
    """The closest real variable name: by spelling, else by the same words with another nesting."""
    upper = name.upper()
    flat = {c.replace("_", ""): c for c in candidates}
    same_words = flat.get(upper.replace("_", ""))
    if same_words is not None:
        return same_words
    close = difflib.get_close_matches(upper, sorted(candidates), n=1, cutoff=0.75)
    return close[0] if close else None


def unknown_variables(model: type[BaseModel], environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``ACD_*`` variables the model does not read, each with the closest real name (or None)."""
    exact, open_prefixes = variable_names(model)
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in exact:
            continue
        if any(upper.startswith(p) for p in open_prefixes):
            continue
        found.append((name, suggest(upper, exact)))
    return found


# --- one-line errors -----------------------------------------------------------------------------


def _walk_loc(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[str], list[str], bool]:
    """Split a pydantic error location into the variable's parts and what lies inside its value
    (list positions, map keys); and whether that variable holds a secret."""
    parts: list[str] = []
    current: Any = model
    for i, step in enumerate(loc):
        if not (is_model(current) and isinstance(step, str) and step in current.model_fields):
            return parts, [str(s) for s in loc[i:]], _holds_secret(current)
        parts.append(step)
        current = _base(current.model_fields[step].annotation)
    return parts, [], bool(parts) and _holds_secret(current)


def _holds_secret(annotation: Any) -> bool:
    annotation = _base(annotation)
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    if is_model(annotation):
        return any(_holds_secret(f.annotation) for f in annotation.model_fields.values())
    return any(_holds_secret(a) for a in get_args(annotation) if a is not Ellipsis)


def _env_value(name: str, environ: Mapping[str, str]) -> str | None:
    if name in environ:
        return environ[name]
    upper = name.upper()
    for key, value in environ.items():
        if key.upper() == upper:
            return value
    return None


_URL_PASSWORD = re.compile(r"(?P<k>://[^:/@\s]*:)[^@\s]*(?=@)")


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = _URL_PASSWORD.sub(lambda m: m.group("k") + "***", text)
    if len(text) > _SHOWN_MAX:
        text = text[: _SHOWN_MAX - 3] + "..."
    return repr(text)


def _problem(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg[:1].lower() + msg[1:] if msg[:2] != msg[:2].upper() else msg


_NAMED = re.compile(r"^(ACD_[A-Z0-9_]+): (.*)$", re.DOTALL)


def _field_at(model: type[BaseModel], parts: list[str]) -> FieldInfo:
    current: Any = model
    field: FieldInfo | None = None
    for part in parts:
        field = current.model_fields[part]
        current = _base(field.annotation)
    assert field is not None
    return field


def _field_named(model: type[BaseModel], name: str) -> FieldInfo:
    """The field an ``ACD_A__B`` name stands for (a secret-holding stand-in when it is none)."""
    current: Any = model
    field: FieldInfo | None = None
    for part in name[len(PREFIX) :].lower().split(DELIMITER):
        if not is_model(current) or part not in current.model_fields:
            return FieldInfo(annotation=SecretStr)  # unknown: treat as secret, never echo it
        field = current.model_fields[part]
        current = _base(field.annotation)
    return field if field is not None else FieldInfo(annotation=SecretStr)


def _json_problem(annotation: Any, raw: str) -> str | None:
    """For a map, a section or a list of objects given as something other than JSON: say so, with
    the JSON parser's own words, rather than pydantic's "input should be a valid dictionary"."""
    origin = get_origin(annotation)
    if is_model(annotation) or origin is dict or annotation is dict:
        shape = "a JSON object"
    elif origin in _COLLECTIONS:
        shape = "a JSON list" if not _is_scalar_collection(annotation) else "a JSON list or a,b,c"
    else:
        return None
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at position {exc.pos}); expected {shape}"
    return None


def describe_error(
    model: type[BaseModel], err: ValidationError, environ: Mapping[str, str] | None = None
) -> str:
    """``ACD_X__Y: problem (got '...')`` for the first problem, with a count of the others."""
    environ = os.environ if environ is None else environ
    first = err.errors()[0]
    parts, inside, secret = _walk_loc(model, tuple(first["loc"]))
    name = PREFIX + DELIMITER.join(p.upper() for p in parts) if parts else "configuration"
    problem = _problem(first["msg"])
    named = _NAMED.match(problem)
    if named:  # a check across fields names the variable itself ("ACD_AMI__RECONNECT_MAX: ...")
        name, problem = named.group(1), named.group(2)
        inside = []
        secret = _holds_secret(_field_named(model, name).annotation)
    raw = _env_value(name, environ) if name.startswith(PREFIX) else None
    if inside:
        where = inside[0]
        problem = f"item {int(where) + 1}: {problem}" if where.isdigit() else f"{where}: {problem}"
    elif isinstance(raw, str) and parts and not named:
        problem = _json_problem(_base(_field_at(model, parts).annotation), raw) or problem
    given = raw if raw is not None else first.get("input")
    text = f"{name}: {problem}"
    plain = isinstance(given, str | int | float) and not isinstance(given, bool)
    small = isinstance(given, list | dict) and raw is None and len(json.dumps(given, default=str)) < 60
    if (plain or small) and not secret:  # never echo a secret, even a malformed one
        text += f" (got {_shown(given)})"
    more = len(err.errors()) - 1
    return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
