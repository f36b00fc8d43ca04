"""``acd asterisk-config``: write the Asterisk files callback affinity needs (acd/asterisk_config.py).

What it does for the operator is :data:`DESCRIPTION`, its ``--help``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acd.asterisk_config import ConfigInputError, configured_agents, from_settings, render
from acd.settings import Settings, load_settings

__all__ = ["register"]

DESCRIPTION = """\
Write the Asterisk side of callback affinity: one personal queue per agent (queues-acd.conf), the
acd-route dialplan context (extensions-acd.conf), the manager user (manager-acd.conf) and what the
shared queues must agree with (queues.conf.example).

Agents come from --agent (repeatable), --agents-file (one state interface per line, # comments),
this server's lines of ACD_REPS_FILE (ACD_SERVER_ID) or ACD_AFFINITY__AGENTS, in that order of
preference. When ACD_REPS_FILE names several servers, asterisk.conf.example gives this server's
systemname. Without --out the files are printed one after
the other; --out DIR writes them there; --check DIR compares instead and exits 1 when a file
differs (for CI and configuration management)."""


def _agents(args: argparse.Namespace, settings: Settings) -> list[str]:
    if args.agent:
        return list(args.agent)
    if args.agents_file is not None:
        try:
            return args.agents_file.read_text(encoding="utf-8").splitlines()  # type: ignore[no-any-return]
        except OSError as err:
            raise ConfigInputError(f"--agents-file {args.agents_file}: {err.strerror}") from None
    return configured_agents(settings)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        cfg = from_settings(settings, _agents(args, settings), args.queue_options)
    except ConfigInputError as err:
        print(f"acd asterisk-config: {err}", file=sys.stderr)
        return 2
    files = render(cfg)
    if args.check is not None:
        stale = [n for n, text in files.items() if _read(args.check / n) != text]
        for name in stale:
            print(
                f"acd asterisk-config: {args.check / name} differs from the generated file", file=sys.stderr
            )
        return 1 if stale else 0
    if args.out is None:
        for name, text in files.items():
            sys.stdout.write(f";;;; ---- {name} ----\n{text}\n")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "asterisk-config",
        help="generate the personal queues, routing dialplan and AMI user for callback affinity",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--agent", action="append", metavar="INTERFACE", help="agent state interface (repeat)")
    p.add_argument("--agents-file", type=Path, metavar="FILE", help="one agent state interface per line")
    p.add_argument("--queue-options", default="t", help="Queue() options used in the dialplan (default: t)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, metavar="DIR", help="write the files into DIR")
    where.add_argument("--check", type=Path, metavar="DIR", help="exit 1 if the files in DIR are not current")
    p.set_defaults(func=_run)
