"""A cheaper ``__init__`` for the frozen, slotted dataclasses the core builds for every event.

Why: a frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``
looked up afresh per field (it must get past the class's own ``__setattr__``, which refuses), about
0.2 µs a field. The core builds several such records per event (the typed event, its effects,
the routing view's agent facts), some with 30 fields: at 100k+ events a second that is a large
share of the pipeline's time. Setting a slot through its descriptor's ``__set__``, bound once,
does the same at about a third of the cost.

:func:`fast_init` replaces only ``__init__``: the class stays the dataclass it was (frozen,
hashable, same fields, defaults, ``repr``, ``==``, ``replace()``, pickling). It refuses classes it
cannot serve exactly (no slots, not frozen, keyword-only fields, ``__post_init__``), so a change
to such a class fails at import, not quietly.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["fast_init"]

T = TypeVar("T")

# The parameter default meaning "call the field's default_factory": dataclasses' own marker, so
# the signature reads as the generated one does (``<factory>``).
_FACTORY: Any = getattr(dataclasses, "_HAS_DEFAULT_FACTORY", object())


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass ``cls`` a faster ``__init__`` with the same signature."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: fast_init serves frozen, slotted dataclasses only")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: fast_init does not call __post_init__")
    scope: dict[str, Any] = {"_FACTORY": _FACTORY}
    args: list[str] = []
    body: list[str] = []
    for i, field in enumerate(dataclasses.fields(cls)):  # type: ignore[arg-type]
        if field.kw_only:
            raise TypeError(f"{cls.__name__}.{field.name}: fast_init takes no keyword-only fields")
        name = field.name
        scope[f"_set{i}"] = cls.__dict__[name].__set__  # the slot's member descriptor
        has_factory = field.default_factory is not dataclasses.MISSING
        if has_factory:
            scope[f"_factory{i}"] = field.default_factory
        if not field.init:
            if has_factory:
                body.append(f"    _set{i}(self, _factory{i}())")
            elif field.default is not dataclasses.MISSING:
                scope[f"_default{i}"] = field.default
                body.append(f"    _set{i}(self, _default{i})")
            continue
        if has_factory:
            args.append(f"{name}=_FACTORY")
            body.append(f"    _set{i}(self, _factory{i}() if {name} is _FACTORY else {name})")
            continue
        if field.default is not dataclasses.MISSING:
            scope[f"_default{i}"] = field.default
            args.append(f"{name}=_default{i}")
        else:
            args.append(name)
        body.append(f"    _set{i}(self, {name})")
    source = f"def __init__(self, {', '.join(args)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, scope)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    init.__dataclass_init__ = cls.__init__  # the one it stands for (tests compare the two)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
