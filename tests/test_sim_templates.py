"""The simulator's call-phase templates are what the captures give: regenerating them from
tests/fixtures/ami with scripts/gen_templates.py yields the packaged file byte for byte."""

from __future__ import annotations

import importlib.util
import sys
from importlib.resources import files
from pathlib import Path
from types import ModuleType

from acd.sim.emit import COMPILED, PHASES

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_templates", ROOT / "scripts" / "gen_templates.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def test_regenerating_from_the_captures_gives_the_packaged_file() -> None:
    gen = _generator()
    packaged = files("acd.sim").joinpath("templates.json").read_text(encoding="utf-8")
    regenerated = gen.dumps(gen.build(ROOT / "tests" / "fixtures" / "ami"))
    assert regenerated == packaged, (
        "run: .venv/bin/python scripts/gen_templates.py tests/fixtures/ami > acd/sim/templates.json"
    )


def test_every_phase_is_compiled_with_its_placeholders() -> None:
    assert set(COMPILED) == set(PHASES) and len(PHASES) > 20
    for name, temps in PHASES.items():
        assert temps, name
        for event, _cls, fmt, _flags in temps:
            assert fmt.startswith(f"Event: {event}\r\n") and fmt.endswith("\r\n\r\n"), (name, event)
    assert {"c_uid1", "c_ch1", "c_num"} <= COMPILED["arrive"].fields()
