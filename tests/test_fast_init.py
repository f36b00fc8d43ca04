"""fast_init gives the core's frozen records a cheaper __init__ that behaves exactly as the one
dataclasses generated: same signature, same fields set, still frozen; it refuses what it cannot
serve exactly."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from typing import Any

import pytest

import acd.core
from acd.core.fast_init import fast_init


def _served() -> list[type[Any]]:
    classes = []
    for info in pkgutil.iter_modules(acd.core.__path__):
        module = importlib.import_module(f"acd.core.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and hasattr(vars(value).get("__init__"), "__dataclass_init__")
            ):
                classes.append(value)
    return classes


SERVED = _served()


def test_the_hot_records_are_served() -> None:
    names = {c.__name__ for c in SERVED}
    assert {
        "ChannelSignal",
        "MemberEvent",
        "MemberStateChanged",
        "CustomerCall",
        "AgentView",
        "RoutingView",
    } <= names


@pytest.mark.parametrize("cls", SERVED, ids=lambda c: c.__name__)
def test_same_signature_and_same_object_as_the_dataclass_init(cls: type[Any]) -> None:
    original = cls.__init__.__dataclass_init__
    assert inspect.signature(cls.__init__) == inspect.signature(original)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    required = [
        f for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    for given in (required, fields):  # defaults taken, then every field given
        args = [f"{f.name}-value" for f in given]
        ours = cls(*args)
        theirs = object.__new__(cls)
        original(theirs, *args)
        for f in dataclasses.fields(cls):
            assert getattr(ours, f.name) == getattr(theirs, f.name), f.name
        assert ours == theirs and repr(ours) == repr(theirs)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(ours, dataclasses.fields(cls)[0].name, "changed")


def test_defaults_factories_and_fields_outside_init() -> None:
    @fast_init
    @dataclass(frozen=True, slots=True)
    class Record:
        a: int
        b: str = "b"
        c: list[int] = field(default_factory=list)
        d: int = field(default=4, init=False)
        e: dict[str, int] = field(default_factory=dict, init=False)

    one, two = Record(1), Record(1)
    assert (one.a, one.b, one.c, one.d, one.e) == (1, "b", [], 4, {})
    assert one.c is not two.c and one.e is not two.e  # a fresh value per object, as dataclasses does
    assert Record(2, "x", [3]) == Record(a=2, b="x", c=[3])
    assert dataclasses.replace(one, b="y").b == "y"
    with pytest.raises(TypeError):
        Record()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Record(1, d=5)  # type: ignore[call-arg]


def test_refuses_what_it_cannot_serve_exactly() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    for cls in (NoSlots, NotFrozen, PostInit, KeywordOnly):
        with pytest.raises(TypeError):
            fast_init(cls)
