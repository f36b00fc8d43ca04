"""``acd run``: the daemon (AMI connection, core, storage, metrics, HTTP)."""

from __future__ import annotations

import argparse
import asyncio


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the daemon (configuration from ACD_* variables)",
        description="Run acd: connect to Asterisk's manager interface, follow every queue, agent and "
        "call, write the records to the database, serve the HTTP API and /metrics, and answer "
        "Asterisk's callback routing lookups, until SIGTERM or Ctrl-C. Configured by ACD_* variables "
        "(`acd config --example` lists them); ACD_AMI__SECRET (or the systemd credential "
        "ami_secret) is required. Exit 0 after a clean stop, 1 on failure, 2 on bad configuration.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import faulthandler

    from acd.daemon import run_daemon
    from acd.logs import configure_logging, register_secret
    from acd.settings import load_settings, require_ami_secret

    settings = load_settings()
    require_ami_secret(settings)
    faulthandler.enable()  # the watchdog's SIGABRT then leaves a traceback in the journal
    configure_logging(settings.log_format, settings.log_level)
    register_secret(settings.ami.secret)
    for token in settings.api_tokens:
        register_secret(token.token)
    return asyncio.run(run_daemon(settings))
