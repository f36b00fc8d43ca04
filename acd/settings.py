"""Configuration from ``ACD_*`` environment variables (nested with ``__``), validated once at start.

Operators' scripts rely on these names (``ACD_AMI__HOST``, ``ACD_DATABASE__URL`` ...), so renaming
one is a breaking change. ``acd config --example`` prints every variable with its default; the copy in
deploy/acd.env.example is checked against it by a test.

Secrets (AMI secret, API tokens) are ``SecretStr``: their ``repr``/``str`` never show the value, so a
settings object can be logged safely. They can also come from systemd credentials
(``$CREDENTIALS_DIRECTORY/<name>``) so they need not sit in the environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from acd.core.reps import RepDirectory, RepMapError, parse_reps
from acd.envvars import ListFormEnvSource, describe_error, unknown_variables

__all__ = [
    "AffinitySettings",
    "AmiSettings",
    "ApiToken",
    "ConfigError",
    "DatabaseSettings",
    "HaSettings",
    "HttpSettings",
    "PagesSettings",
    "QueueLogSettings",
    "QueueSettings",
    "RoutingSettings",
    "Settings",
    "load_settings",
    "require_ami_secret",
    "with_database",
]


class ConfigError(Exception):
    """Bad configuration: one line naming the variable and the problem (the CLI exits 2)."""


class AmiSettings(BaseModel):
    """How to reach the Asterisk Manager Interface."""

    host: str = Field("127.0.0.1", description="Asterisk host running AMI")
    port: int = Field(5038, ge=1, le=65535, description="AMI TCP port")
    username: str = Field("acd", min_length=1, description="manager.conf user")
    secret: SecretStr = Field(
        SecretStr(""),
        description="manager.conf secret, required by acd run (never logged; or credential ami_secret)",
    )
    tls: bool = Field(False, description="connect with TLS (AMI over tls, usually port 5039)")
    connect_timeout: float = Field(5.0, gt=0, description="seconds to wait for the TCP connect and banner")
    action_timeout: float = Field(10.0, gt=0, description="seconds before an unanswered action fails")
    reconnect_min: float = Field(0.5, gt=0, description="first reconnect delay, seconds")
    reconnect_max: float = Field(30.0, gt=0, description="reconnect delay cap, seconds")
    auth_retry: float = Field(60.0, gt=0, description="delay after a refused login, seconds")
    ping_interval: float = Field(10.0, gt=0, description="seconds between keep-alive Pings")
    ping_timeout: float = Field(
        5.0, gt=0, description="nothing received this long while a Ping waits means the peer is dead"
    )
    max_message_bytes: int = Field(1 << 20, ge=4096, description="largest AMI message accepted")
    require_timestamps: bool = Field(
        False, description="acd check fails (not only warns) when events lack Timestamp (timestampevents)"
    )

    @model_validator(mode="after")
    def _bounds(self) -> AmiSettings:
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("ACD_AMI__RECONNECT_MAX: must be >= ACD_AMI__RECONNECT_MIN")
        return self


class DatabaseSettings(BaseModel):
    url: str = Field("sqlite+aiosqlite:///acd.db", description="SQLAlchemy URL (SQLite file or PostgreSQL)")
    spool_dir: str = Field(
        "spool", description="directory of the durable journal: records on disk until the database has them"
    )
    journal_max_bytes: int = Field(
        1 << 30, ge=1 << 20, description="size bound of the journal (bytes); beyond it records wait in memory"
    )
    batch_size: int = Field(500, ge=1, description="rows per write transaction at most")
    queue_size: int = Field(
        10000, ge=10, description="records kept in memory while the journal cannot write (beyond: dropped)"
    )
    flush_deadline: float = Field(10.0, gt=0, description="seconds allowed to flush on shutdown")
    retention_days: int = Field(0, ge=0, description="erase caller numbers and notes after (0: keep)")

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        return check_database_url(value)


# What acd's store can drive (acd/store/database.py gives the plain names their async driver).
DATABASE_SCHEMES = ("sqlite+aiosqlite", "sqlite", "postgresql+asyncpg", "postgresql", "postgres")


def check_database_url(url: str) -> str:
    """A URL acd can use, or a ValueError that names the supported schemes."""
    scheme, sep, _ = url.partition(":")
    if not sep or scheme.lower() not in DATABASE_SCHEMES:
        raise ValueError(
            f"unsupported database {scheme!r}: use sqlite+aiosqlite:///PATH (SQLite) or "
            "postgresql+asyncpg://USER:PASSWORD@HOST/NAME (PostgreSQL)"
            if sep
            else "not a database URL: use sqlite+aiosqlite:///PATH (SQLite) or "
            "postgresql+asyncpg://USER:PASSWORD@HOST/NAME (PostgreSQL)"
        )
    return url


def shown_url(url: str) -> str:
    """A database URL as it may be shown (logs, ``acd check``, errors): the password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


class HttpSettings(BaseModel):
    host: str = Field("127.0.0.1", description="HTTP API and /metrics bind address")
    port: int = Field(8080, ge=0, le=65535, description="HTTP API and /metrics port (0: pick a free one)")
    header_timeout: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="seconds a client gets to send a request's headers (and to stay idle)",
    )


class RoutingSettings(BaseModel):
    """The routing lookup that Asterisk's CURL() asks (acd asterisk-config writes it into the dialplan)."""

    host: str = Field(
        "127.0.0.1", description="routing lookup bind address (an IP: Asterisk must not resolve)"
    )
    port: int = Field(8081, ge=0, le=65535, description="routing lookup port (HTTP)")
    timeout_seconds: float = Field(
        0.5, ge=0.05, le=5.0, description="the bound: Asterisk waits this long for acd, then the shared queue"
    )
    max_lookups_per_second: float = Field(
        1000.0, gt=0, description="beyond this rate lookups are answered 'shared queue' (a flood)"
    )
    other_node: str = Field(
        "",
        description="IP:PORT of the other HA node's lookup: the dialplan asks it when this one "
        "refuses the connection (a standby); empty: no other node",
    )

    @field_validator("other_node")
    @classmethod
    def _address(cls, value: str) -> str:
        if not value:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535 or not host:
            raise ValueError("must be IP:PORT (e.g. 127.0.0.1:8082)")
        return value


class HaSettings(BaseModel):
    """Leadership of one server's nodes (PostgreSQL only; with SQLite a node always leads alone)."""

    node: str = Field(
        "", max_length=160, description="this node's name in `acd status` and logs (empty: the host name)"
    )
    heartbeat_seconds: float = Field(
        1.0, ge=0.1, le=5.0, description="seconds between leadership heartbeats (a standby's lock attempts)"
    )
    step_down_seconds: float = Field(
        3.0, gt=0, description="a leader without a successful heartbeat this long stops acting"
    )
    session_timeout_seconds: float = Field(
        5.0,
        ge=1.0,
        description="PostgreSQL ends a silent leader's session after this (idle_session_timeout), "
        "freeing the lock for the standby; longer than the step-down",
    )
    ami_lost_seconds: float = Field(
        15.0, gt=0, description="a leader without AMI this long lets a node that has Asterisk lead"
    )

    @model_validator(mode="after")
    def _ordered(self) -> HaSettings:
        if self.step_down_seconds <= self.heartbeat_seconds:
            raise ValueError("ACD_HA__STEP_DOWN_SECONDS: must be longer than ACD_HA__HEARTBEAT_SECONDS")
        if self.session_timeout_seconds <= self.step_down_seconds:
            raise ValueError(
                "ACD_HA__SESSION_TIMEOUT_SECONDS: must be longer than ACD_HA__STEP_DOWN_SECONDS "
                "(a leader must stop acting before the database frees its lock)"
            )
        return self

    def node_name(self) -> str:
        import socket

        return self.node or socket.gethostname()


class QueueLogSettings(BaseModel):
    """Asterisk's queue_log: where acd finds the calls it could not see (acd stopped, AMI down)."""

    path: str = Field(
        "/var/log/asterisk/queue_log",
        description="Asterisk's queue_log, read (never written) after every start and AMI gap ('' = off)",
    )
    lookback_seconds: float = Field(
        3600.0, ge=0, description="read this far before a gap for the calls still open when it began"
    )


class PagesSettings(BaseModel):
    """Browser sign-in for the pages (the JSON API keeps its bearer tokens)."""

    session_secret: SecretStr = Field(
        SecretStr(""),
        description="key sealing the pages' session cookies (or credential session_secret); "
        "empty: a new random key at each start, so everyone signs in again after a restart",
    )
    session_hours: float = Field(12.0, gt=0, le=24 * 31, description="a browser sign-in lasts this long")
    secure_cookie: bool = Field(
        False, description="mark the session cookie Secure (set it when served over HTTPS)"
    )
    login_attempts_per_minute: int = Field(
        10, ge=1, description="sign-in attempts allowed per client address and minute"
    )


class AffinitySettings(BaseModel):
    """Callback affinity rollout and delivery (per-queue enablement is ``QueueSettings.affinity``)."""

    enabled: bool = Field(True, description="global switch: decide callback routing at all")
    shadow: bool = Field(False, description="decide and record, but always answer 'queue' (measure first)")
    allowed_pause_reasons: list[str] = Field(
        default_factory=list, description="pause reasons that still let callbacks reach the agent (JSON list)"
    )
    ring_timeout_seconds: float = Field(15.0, gt=0, description="how long the original agent is rung, once")
    priority: int = Field(10, ge=0, description="QUEUE_PRIO for the shared queue after the personal leg")
    sticky: bool = Field(False, description="also prefer the last agent for any repeat contact")
    sticky_window_seconds: float = Field(86400.0, gt=0, description="sticky mode looks back this far")
    mirror_members: bool = Field(True, description="keep personal queues in step with shared-queue logins")
    screenpop_base_url: str = Field(
        "", description="acd's HTTP address as agents reach it, for screen pops (empty: ACD_HTTP__*)"
    )
    agents: list[str] = Field(
        default_factory=list, description="agents given a personal queue by `acd asterisk-config` (JSON list)"
    )

    @field_validator("screenpop_base_url")
    @classmethod
    def _url_fits_the_dialplan(cls, value: str) -> str:
        # The link travels in Queue()'s arguments and a Gosub argument: no separators allowed.
        bad = sorted({c for c in value if c in ",;()^\"\\'" or c.isspace()})
        if bad:
            raise ValueError(f"must not contain {' '.join(repr(c) for c in bad)}")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class QueueSettings(BaseModel):
    """Per-queue behaviour; ``Settings.queue_defaults`` applies to every queue unless overridden."""

    service_level_seconds: float = Field(20.0, gt=0, description="answered within this counts for SL")
    service_level_target: float = Field(0.8, gt=0, le=1, description="SL target ratio")
    short_abandon_seconds: float = Field(10.0, ge=0, description="abandons shorter than this are short")
    wrapup_seconds: float = Field(0.0, ge=0, description="wrap-up after each call (AMI does not show it)")
    callback_window_seconds: float = Field(3600.0, gt=0, description="a cut-off caller is a callback within")
    affinity: bool = Field(True, description="route callbacks to the agent who had the call")
    affinity_wait_seconds: float = Field(30.0, ge=0, description="longest wait for a busy original agent")


class ApiToken(BaseModel):
    token: SecretStr
    role: Literal["agent", "supervisor", "wallboard"]
    agent: str | None = Field(None, description="state interface of the agent this token speaks for")
    name: str | None = Field(
        None,
        min_length=1,
        max_length=160,
        description="who holds the token (a supervisor's name): recorded as who made an adjustment or review",
    )

    @model_validator(mode="after")
    def _agent_needs_identity(self) -> ApiToken:
        if self.role == "agent" and not self.agent:
            raise ValueError("an agent token needs 'agent' (the agent's state interface)")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ACD_",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    server_id: str = Field("asterisk", min_length=1, description="name of this Asterisk server in records")
    log_format: Literal["auto", "json", "console"] = Field("auto", description="auto: JSON unless a terminal")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    speed: float = Field(1.0, gt=0, description="clock speed factor (match the simulator's --speed)")
    ami: AmiSettings = Field(default_factory=AmiSettings)  # type: ignore[arg-type]
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)  # type: ignore[arg-type]
    http: HttpSettings = Field(default_factory=HttpSettings)  # type: ignore[arg-type]
    routing: RoutingSettings = Field(default_factory=RoutingSettings)  # type: ignore[arg-type]
    queue_log: QueueLogSettings = Field(default_factory=QueueLogSettings)  # type: ignore[arg-type]
    affinity: AffinitySettings = Field(default_factory=AffinitySettings)  # type: ignore[arg-type]
    pages: PagesSettings = Field(default_factory=PagesSettings)  # type: ignore[arg-type]
    ha: HaSettings = Field(default_factory=HaSettings)  # type: ignore[arg-type]
    time_zone: str = Field(
        "", description="the center's time zone on pages (IANA name such as Europe/Berlin; empty: the host's)"
    )
    queue_defaults: QueueSettings = Field(default_factory=QueueSettings)  # type: ignore[arg-type]
    # Given as overrides of queue_defaults; held as each queue's complete settings, validated once.
    queues: dict[str, QueueSettings] = Field(
        default_factory=dict, description='per-queue overrides, JSON: {"sales": {"wrapup_seconds": 15}}'
    )
    cutoff_normal_causes: frozenset[int] = Field(
        frozenset({16, 17, 19, 21}), description="Q.850 causes that are NOT a cut-off (JSON list)"
    )
    short_call_seconds: float = Field(
        30.0, ge=0, description="agent-released calls shorter are flagged short"
    )
    short_agent_release_is_cutoff: bool = Field(
        False, description="count agent-released short calls as cut-offs"
    )
    repeat_window_seconds: float = Field(86400.0, gt=0, description="a new call within this is a repeat")
    credit_policy: Literal["original", "closer", "split"] = Field(
        "split", description="who gets a callback chain's sale: original rep, closer, or split"
    )
    credit_original_share: float = Field(
        0.5, ge=0, le=1, description="under split: the original rep's share of the points (0 to 1)"
    )
    dispositions: list[str] = Field(
        default_factory=lambda: ["sale", "resolved", "follow_up", "no_sale", "wrong_number", "other"],
        description="allowed dispositions (JSON list)",
    )
    api_tokens: list[ApiToken] = Field(default_factory=list, description="bearer tokens (JSON list)")
    metrics_per_agent: bool = Field(False, description="export per-agent series on /metrics (opt-in)")
    metrics_max_agents: int = Field(
        1000, ge=1, description="per-agent series cap; extra agents become 'other'"
    )
    reps_file: Path | None = Field(
        None, description="who is who on several servers: lines `server interface rep [name]`"
    )

    @field_validator("reps_file", mode="before")
    @classmethod
    def _reps_unset(cls, value: Any) -> Any:
        return None if value == "" else value  # ACD_REPS_FILE= (empty): no mapping

    @field_validator("reps_file")
    @classmethod
    def _reps_readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_reps(value)
        return value

    def reps(self) -> RepDirectory:
        """The rep mapping (empty without ``ACD_REPS_FILE``): checked at start, read again here."""
        return read_reps(self.reps_file) if self.reps_file is not None else RepDirectory()

    @field_validator("time_zone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        if value:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("not a known time zone (an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("queues", mode="before")
    @classmethod
    def _queues_over_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        """Each queue's overrides on top of ``queue_defaults`` (validated before this field), so
        every queue's settings are complete, typed and checked once, here."""
        if not isinstance(value, dict):
            return value  # pydantic names what is wrong with it
        defaults = info.data.get("queue_defaults")
        base = defaults.model_dump() if isinstance(defaults, QueueSettings) else {}
        fields = set(QueueSettings.model_fields)
        out: dict[Any, Any] = {}
        for name, override in value.items():
            if not isinstance(override, dict):
                out[name] = override  # a QueueSettings already, or pydantic's error
                continue
            unknown = set(override) - fields
            if unknown:
                raise ValueError(f"queue {name!r}: unknown setting(s) {sorted(unknown)}")
            try:
                out[name] = QueueSettings.model_validate({**base, **override})
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"queue {name!r}: {where}: {first['msg'].lower()}") from None
        return out

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment as acd reads it: lists also comma-separated (acd/envvars.py)."""
        return init_settings, ListFormEnvSource(settings_cls), dotenv_settings, file_secret_settings

    def queue(self, name: str) -> QueueSettings:
        """Settings for one queue: the defaults with that queue's overrides on top."""
        return self.queues.get(name, self.queue_defaults)


def read_reps(path: Path) -> RepDirectory:
    """The reps file parsed; ValueError names the file and the line."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        return parse_reps(text)
    except RepMapError as err:
        raise ValueError(f"{path} {err}") from None


def _from_credentials() -> dict[str, Any]:
    """systemd ``LoadCredential=`` files: ``ami_secret``, ``session_secret`` and ``api_tokens`` (JSON)."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return {}
    found: dict[str, Any] = {}
    base = Path(directory)
    secret = base / "ami_secret"
    if secret.is_file():
        found.setdefault("ami", {})["secret"] = secret.read_text().strip()
    session = base / "session_secret"
    if session.is_file():
        found.setdefault("pages", {})["session_secret"] = session.read_text().strip()
    tokens = base / "api_tokens"
    if tokens.is_file():
        import json

        try:
            found["api_tokens"] = json.loads(tokens.read_text())
        except ValueError as exc:
            raise ConfigError(f"credential api_tokens: not valid JSON ({exc})") from None
    return found


_warned: set[str] = set()


def _warn_unknown(environ: dict[str, str]) -> None:
    """Name each ``ACD_*`` variable acd does not read, once per process, with the closest real one."""
    for name, closest in unknown_variables(Settings, environ):
        if name in _warned:
            continue
        _warned.add(name)
        hint = f"did you mean {closest}?" if closest else "see `acd config --example`"
        print(f"acd: warning: {name} is not an acd setting and is ignored ({hint})", file=sys.stderr)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (and systemd credentials); raise :class:`ConfigError` with one clear line."""
    _warn_unknown(dict(os.environ))
    try:
        creds = _from_credentials()
        return Settings(**creds, **overrides)
    except ValidationError as err:
        raise ConfigError(describe_error(Settings, err)) from None
    except SettingsError as err:  # a nested section given as a whole, not as JSON
        field = str(err).split('"')[1] if str(err).count('"') >= 2 else "configuration"
        raise ConfigError(f"ACD_{field.upper()}: not valid JSON") from None


def require_ami_secret(settings: Settings) -> None:
    """The daemon logs in to AMI: without a secret it would only ever be refused."""
    if not settings.ami.secret.get_secret_value():
        raise ConfigError(
            "ACD_AMI__SECRET: not set: give the secret of the manager.conf user "
            f"{settings.ami.username!r} (or the systemd credential ami_secret)"
        )


def with_database(settings: Settings, url: str | None) -> Settings:
    """The same settings with another database URL (the ``--database`` option of the commands);
    the rest of the database section (spool, batch size...) is kept."""
    if not url:
        return settings
    try:
        check_database_url(url)
    except ValueError as err:
        raise ConfigError(f"--database: {err}") from None
    return settings.model_copy(update={"database": settings.database.model_copy(update={"url": url})})
