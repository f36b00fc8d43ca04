"""``acd check``: preflight before enabling the service; one verdict per line, ``--json`` for scripts.

Exit codes: 0 nothing failed (warnings allowed), 1 a check failed, 2 the configuration is invalid
(the same one-line error the daemon would give).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter

from acd.preflight.checklist import check_config, run_checks
from acd.preflight.results import CheckResult, exit_code, to_json


def _print_human(results: list[CheckResult]) -> None:
    width = max(len(r.name) for r in results)
    for result in results:
        print(f"{result.verdict:<4}  {result.name:<{width}}  {result.detail}")
    counts = Counter(r.verdict for r in results)
    verdict = "FAILED" if counts["FAIL"] else "passed"
    print(f"\nacd check {verdict}: {counts['FAIL']} failed, {counts['WARN']} warning(s), {counts['OK']} ok")


def _run(args: argparse.Namespace) -> int:
    settings, config_result = check_config()
    if settings is None:
        # The same one line every command gives (and exit 2); --json still gets its document.
        if args.json:
            json.dump(to_json([config_result]), sys.stdout, indent=2)
            sys.stdout.write("\n")
        print(f"acd: configuration error: {config_result.detail}", file=sys.stderr)
        return 2
    results = [config_result, *asyncio.run(run_checks(settings, observe_seconds=args.observe))]
    if args.json:
        json.dump(to_json(results), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_human(results)
    return exit_code(results)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="preflight: configuration, AMI access and classes, database, ports",
        description="Check what acd needs before enabling the service: configuration, AMI reachable, "
        "login, the manager user's read/write classes, timestampevents, whether Asterisk's CURL() "
        "reaches acd's routing lookup, database and schema, HTTP and routing ports. Exit 1 when a "
        "check fails, 2 when the configuration is invalid.",
    )
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument(
        "--observe",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long to watch AMI events to infer read classes (default 1.0)",
    )
    parser.set_defaults(func=_run)
