"""Every check of ``acd check`` in the order they are printed, from the configuration on."""

from __future__ import annotations

from collections.abc import Callable

from acd.ports import bind_problem
from acd.preflight.ami_session import observe_ami
from acd.preflight.ami_verdicts import analyse_ami
from acd.preflight.database import check_database
from acd.preflight.queue_log import check_queue_log
from acd.preflight.results import CheckResult
from acd.settings import ConfigError, Settings, load_settings, require_ami_secret, shown_url

__all__ = ["check_config", "check_port", "run_checks"]


def check_config(load: Callable[[], Settings] = load_settings) -> tuple[Settings | None, CheckResult]:
    try:
        settings = load()
        require_ami_secret(settings)
    except ConfigError as err:
        return None, CheckResult("config", "FAIL", str(err))
    ami = settings.ami
    return settings, CheckResult(
        "config",
        "OK",
        f"valid (AMI {ami.username}@{ami.host}:{ami.port}, database {shown_url(settings.database.url)})",
    )


async def run_checks(settings: Settings, observe_seconds: float = 1.0) -> list[CheckResult]:
    """Every check after the configuration one, in the order they are printed."""
    obs = await observe_ami(settings, observe_seconds)
    results = analyse_ami(obs, settings)
    results.append(await check_queue_log(settings, obs))
    results.append(await check_database(settings))
    results.append(check_port("http.port", settings.http.host, settings.http.port))
    results.append(check_port("routing.port", settings.routing.host, settings.routing.port))
    return results


def check_port(name: str, host: str, port: int) -> CheckResult:
    """Can the daemon bind ``host:port``? Binds and releases it at once, as the daemon would bind it."""
    if port == 0:
        return CheckResult(name, "OK", f"{host}:0: the daemon picks a free port")
    why = bind_problem(host, port)
    if why is not None:
        return CheckResult(name, "FAIL", f"{host}:{port}: {why}")
    if port < 1024:
        return CheckResult(
            name, "FAIL", f"{host}:{port}: below 1024, the service (no capabilities) cannot bind it"
        )
    return CheckResult(name, "OK", f"{host}:{port} is free")
