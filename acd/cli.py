"""The ``acd`` command. Each subcommand lives in its own module and registers itself here.

Exit codes: 0 success, 1 failure at run time, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from acd import __version__
from acd.settings import ConfigError

# name -> "module:register". ``register(subparsers)`` adds the subcommand and sets ``func`` to a
# callable taking the parsed args and returning an exit code. Modules are imported lazily so that
# ``acd replay`` does not pay for SQLAlchemy, aiohttp or the simulator.
COMMANDS: dict[str, str] = {
    "run": "acd.commands.run:register",
    "replay": "acd.commands.replay:register",
    "demo": "acd.commands.demo:register",
    "sim": "acd.commands.sim:register",
    "config": "acd.commands.config:register",
    "check": "acd.commands.check:register",
    "db": "acd.commands.db:register",
    "report": "acd.commands.report:register",
    "status": "acd.commands.status:register",
    "purge": "acd.commands.purge:register",
    "import": "acd.commands.importer:register",
    "asterisk-config": "acd.commands.asterisk_config:register",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """All subcommands, or just ``only``: one command's imports never slow or break another's."""
    parser = argparse.ArgumentParser(prog="acd", description="ACD companion daemon for Asterisk call centers")
    parser.add_argument("--version", action="version", version=f"acd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, target in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        module_name, _, attr = target.partition(":")
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = getattr(
            importlib.import_module(module_name), attr
        )
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as err:
        print(f"acd: configuration error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `acd replay ... | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
