"""Verdicts over what one short AMI session saw: reachable, logged in, the write and read classes
against what acd needs, timestampevents, and whether Asterisk's CURL() reaches acd's lookup. Pure:
:func:`acd.preflight.ami_session.observe_ami` does the I/O and fills :class:`AmiObservation`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from acd.ami.classes import READ_NEEDS, WRITE_NEEDS
from acd.ami.codec import BANNER_PREFIX
from acd.preflight.grants import enabled_features, event_classes, granted_write_classes, parse_list_commands
from acd.preflight.results import CheckResult, Verdict
from acd.routing.answer import PING_BODY
from acd.settings import Settings

__all__ = ["AmiObservation", "analyse_ami"]


@dataclass
class AmiObservation:
    """What one short AMI session saw; :func:`analyse_ami` turns it into verdicts."""

    address: str
    username: str
    banner: str | None = None
    connect_error: str | None = None
    login_error: str | None = None
    list_commands: dict[str, str] | None = None
    list_commands_error: str | None = None
    userevent_sent: bool = False
    userevent_echoed: bool = False
    queue_log_marker: str | None = None  # a QueueLog line Asterisk accepted (acd.preflight.queue_log)
    events: list[dict[str, str]] = field(default_factory=list)
    observed_seconds: float = 0.0
    lookup_url: str = ""
    lookup_answer: dict[str, str] | None = None  # Getvar's response for CURL(lookup_url)
    lookup_error: str | None = None


def _write_results(obs: AmiObservation, features: Sequence[str]) -> list[CheckResult]:
    if obs.list_commands is None:
        return [CheckResult("ami.write", "FAIL", f"ListCommands failed: {obs.list_commands_error}")]
    allowed = parse_list_commands(obs.list_commands)
    results = []
    recommended: set[str] = set()
    for feature in features:
        needs = [n for n in WRITE_NEEDS if n.feature == feature]
        recommended |= {n.recommended for n in needs if n.recommended}
        missing = [n for n in needs if n.action.lower() not in allowed]
        if missing:
            text = "; ".join(
                f"{n.action} denied (needs write={'|'.join(sorted(n.classes))}: {n.why})" for n in missing
            )
            results.append(CheckResult(f"ami.write.{feature}", "FAIL", text))
        else:
            results.append(
                CheckResult(f"ami.write.{feature}", "OK", "allowed: " + ", ".join(n.action for n in needs))
            )
    extra = sorted(granted_write_classes(allowed) - recommended)
    least = ",".join(sorted(recommended)) or "none"
    if extra:
        results.append(
            CheckResult(
                "ami.write.extra",
                "WARN",
                f"write classes granted but not needed: {','.join(extra)} (least privilege: write={least})",
            )
        )
    else:
        results.append(CheckResult("ami.write.extra", "OK", f"no write class beyond write={least}"))
    return results


def _read_results(obs: AmiObservation) -> list[CheckResult]:
    seen: set[str] = set()
    for event in obs.events:
        seen |= event_classes(event)
    if any(e.get("Event") == "FullyBooted" for e in obs.events):
        seen.add("system")
    if obs.userevent_echoed:
        seen.add("user")
    window = f"{obs.observed_seconds:.1f} s"
    results = []
    for cls, why in READ_NEEDS.items():
        name = f"ami.read.{cls}"
        if cls in seen:
            results.append(CheckResult(name, "OK", "verified (" + _evidence(cls, obs) + ")"))
        elif cls == "system":
            results.append(
                CheckResult(
                    name,
                    "FAIL",
                    "no FullyBooted after login: the user lacks read=system, or Asterisk is still "
                    f"booting; acd needs it for {why}",
                )
            )
        elif cls == "user" and not obs.userevent_sent:
            results.append(CheckResult(name, "WARN", f"unverified (cannot send UserEvent to test it); {why}"))
        elif cls == "user":
            results.append(
                CheckResult(name, "WARN", f"own UserEvent did not come back in {window}: read=user missing")
            )
        else:
            results.append(
                CheckResult(
                    name, "WARN", f"unverified: no {cls} event in {window} (normal on an idle PBX); {why}"
                )
            )
    extra = sorted(seen - set(READ_NEEDS))
    if extra:
        results.append(
            CheckResult(
                "ami.read.extra",
                "WARN",
                f"events of classes acd does not need arrive: {','.join(extra)} "
                f"(least privilege: read={','.join(READ_NEEDS)}; dialplan is most of AMI's traffic)",
            )
        )
    else:
        results.append(
            CheckResult("ami.read.extra", "OK", f"no event class beyond read={','.join(READ_NEEDS)}")
        )
    return results


def _evidence(cls: str, obs: AmiObservation) -> str:
    if cls == "system" and any(e.get("Event") == "FullyBooted" for e in obs.events):
        return "FullyBooted received"
    if cls == "user" and obs.userevent_echoed:
        return "own UserEvent came back"
    for event in obs.events:
        if cls in event_classes(event):
            return f"{event.get('Event', 'event')} received"
    return "seen"


def _timestamp_result(obs: AmiObservation, settings: Settings) -> CheckResult:
    # The login's FullyBooted is written directly to the session and never carries Timestamp.
    broadcast = [e for e in obs.events if "Privilege" in e and e.get("Event") != "FullyBooted"]
    if not broadcast:
        return CheckResult(
            "ami.timestampevents",
            "WARN",
            "unknown: no broadcast event arrived to tell (acd works with either)",
        )
    if any("Timestamp" in e for e in broadcast):
        return CheckResult("ami.timestampevents", "OK", "on: event times come from Asterisk's clock")
    verdict: Verdict = "FAIL" if settings.ami.require_timestamps else "WARN"
    return CheckResult(
        "ami.timestampevents",
        verdict,
        "off: acd times events when it reads them, so a stall in acd (a paused VM, a swap storm) "
        "shifts waits and talk times; set timestampevents = yes in manager.conf [general]"
        + (f" (ACD_SPEED={settings.speed} needs it too)" if settings.speed != 1.0 else ""),
    )


def analyse_ami(obs: AmiObservation, settings: Settings) -> list[CheckResult]:
    """Verdicts for one AMI session. Checks that depend on an earlier failure are left out."""
    if obs.connect_error is not None:
        return [CheckResult("ami.connect", "FAIL", f"{obs.address}: {obs.connect_error}")]
    if obs.banner is None or not obs.banner.startswith(BANNER_PREFIX):
        return [CheckResult("ami.connect", "FAIL", f"{obs.address} is not AMI (first line {obs.banner!r})")]
    results = [CheckResult("ami.connect", "OK", f"{obs.address}: {obs.banner}")]
    if obs.login_error is not None:
        results.append(CheckResult("ami.login", "FAIL", f"user {obs.username!r}: {obs.login_error}"))
        return results
    results.append(CheckResult("ami.login", "OK", f"user {obs.username!r} logged in"))
    results += _write_results(obs, enabled_features(settings))
    results += _read_results(obs)
    results.append(_timestamp_result(obs, settings))
    results.append(_lookup_result(obs))
    return results


def _lookup_result(obs: AmiObservation) -> CheckResult:
    name = "routing.curl"
    if obs.lookup_answer is None:
        return CheckResult(name, "WARN", f"not verified ({obs.lookup_error or 'no Getvar answer'})")
    answer = obs.lookup_answer
    if answer.get("Response") != "Success":
        why = answer.get("Message", "refused")
        return CheckResult(name, "WARN", f"not verified: Getvar {why} (needs write=reporting or call)")
    if answer.get("Value", "") == PING_BODY:
        return CheckResult(name, "OK", f"Asterisk's CURL() reached {obs.lookup_url}")
    return CheckResult(
        name,
        "FAIL",
        f"Asterisk's CURL({obs.lookup_url}) returned {answer.get('Value', '')[:60]!r}: func_curl is not "
        "loaded (module load func_curl.so) or Asterisk cannot reach acd's lookup there; without it "
        "every caller goes to the shared queue",
    )
