"""``acd config``: print the effective configuration, or every variable with its default and meaning
(:mod:`acd.envfile` writes both from the settings model)."""

from __future__ import annotations

import argparse
import sys

from acd.envfile import env_vars, render_env, render_example
from acd.settings import load_settings

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    if args.example:
        sys.stdout.write(render_example())
        return 0
    # Effective configuration: raises ConfigError (exit 2, one clear line) when it is invalid.
    sys.stdout.write(render_env(env_vars(load_settings()), commented=False))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config",
        help="print the configuration variables",
        description="Print the effective configuration as ACD_* variables (secrets masked), or with "
        "--example every variable with its default and meaning (deploy/acd.env.example).",
    )
    parser.add_argument(
        "--example",
        action="store_true",
        help="every ACD_* variable, commented out, with its default and a one-line meaning",
    )
    parser.set_defaults(func=_run)
