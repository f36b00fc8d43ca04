"""``acd run``: the daemon (AMI connection, core, storage, metrics, HTTP)."""

from __future__ import annotations

import argparse
import asyncio


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the daemon (configuration from ACD_* variables)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import faulthandler

    from acd.daemon import run_daemon
    from acd.logs import configure_logging, register_secret
    from acd.settings import load_settings

    faulthandler.enable()  # the watchdog's SIGABRT then leaves a traceback in the journal
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter at every start
    register_secret(settings.ami.secret)
    for token in settings.api_tokens:
        register_secret(token.token)
    return asyncio.run(run_daemon(settings))
