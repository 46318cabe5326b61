"""Settings from the environment (``BARBERSHOP_*``), read once by the composition root.

With nothing set, the product runs embedded: a SQLite file, the queue inside the
process, and the local message channel, all under ``./data``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import attrs

from barbershop_adapters.key_derivation import KEY_PURPOSES, KeyRing
from barbershop_core.policies import PromoPolicy, RegistrationPolicy, RetryPolicy
from barbershop_core.reference import LOCAL_CHANNEL
from barbershop_entrypoints.secret_key_file import MIN_SECRET_KEY_LENGTH, SecretKeyFileError, read_or_create_secret_key


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


DEFAULT_PUBLIC_URL: Final = "http://127.0.0.1:8000"
"""``barbershop serve`` on its default address: right for the embedded default on one machine."""


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@attrs.frozen
class Settings:
    data_dir: Path = Path("data")
    database_url: str | None = None
    """None: a SQLite file in ``data_dir``."""
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_echo: bool = False
    broker_url: str | None = None
    """``redis://…`` for a Redis Stream broker; None: the queue runs inside the process."""
    broker_stream: str = "barbershop:notifications"
    """The Redis stream key of the queue; installations sharing one Redis need different ones."""
    secret_key: str | None = None
    """Master secret; None: generated once into ``data_dir/secret.key``."""
    default_region: str = "RU"
    default_channel: str = LOCAL_CHANNEL
    local_channel: bool | None = None
    """The local channel (console + ``messages.jsonl``); None: on for the embedded default only."""
    temporary_password_ttl: timedelta = timedelta(hours=72)
    create_missing_templates: bool = False
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    hash_threads: int = attrs.field(factory=usable_cpus)
    """Threads hashing passwords off the event loop: one per CPU (argon2 releases the GIL;
    more threads than CPUs only queue inside the kernel and add latency)."""
    token_ttl: timedelta = timedelta(hours=12)
    audit_retention: timedelta = timedelta(days=3 * 365)
    """How long audit events are kept; ``barbershop audit purge`` deletes older ones."""
    reference_source: str | None = None
    """A JSON file path or an http(s) URL that the scheduler syncs channels and templates from."""
    sweep_interval: timedelta = timedelta(seconds=15)
    """How often the scheduler queues due notifications: a retry leaves at most this late."""
    retry_base_delay: timedelta = timedelta(seconds=30)
    """A4: the first retry's delay; each next one is four times longer (with jitter)."""
    send_lease: timedelta = timedelta(minutes=2)
    """How long a worker owns a send attempt; must exceed the slowest provider call."""
    broker_redelivery: timedelta = timedelta(minutes=2)
    """A Redis message left unacknowledged this long is reclaimed by another worker."""
    fallback_channels: tuple[str, ...] = ()
    """``BARBERSHOP_FALLBACK_CHANNELS=telegram,whatsapp,sms``: the fallback chain, in order."""
    public_url: str = DEFAULT_PUBLIC_URL
    """Where clients reach this installation; their welcome message links to its ``/client/login``."""
    key_versions: Mapping[str, int] = attrs.field(factory=dict)
    """``BARBERSHOP_KEY_VERSION_TOKENS`` / ``_SECRET_BOX`` / ``_PARTNER_KEYS`` / ``_CALLBACKS``: raise
    one to rotate that purpose's key alone (see :class:`barbershop_adapters.key_derivation.KeyRing`)."""
    environ: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    """The raw environment, for adapters' own variables (channel credentials)."""

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'barbershop.sqlite3').resolve()}"

    @property
    def uses_sqlite(self) -> bool:
        """The embedded default or a configured SQLite file (one host)."""
        return self.database_url is None or self.database_url.split(":", 1)[0].split("+", 1)[0] == "sqlite"

    @property
    def local_channel_enabled(self) -> bool:
        return self.embedded if self.local_channel is None else self.local_channel

    @property
    def local_messages_file(self) -> Path:
        return self.data_dir / "messages.jsonl"

    def registration_policy(self) -> RegistrationPolicy:
        return RegistrationPolicy(
            default_region=self.default_region,
            default_channel=self.default_channel,
            temporary_password_ttl=self.temporary_password_ttl,
            create_missing_templates=self.create_missing_templates,
            fallback_channels=self.fallback_channels,
        )

    @property
    def sign_in_url(self) -> str:
        return f"{self.public_url}/client/login"

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(base_delay=self.retry_base_delay, lease=self.send_lease)

    def promo_policy(self) -> PromoPolicy:
        return PromoPolicy()

    def key_ring(self) -> KeyRing:
        return KeyRing(self.master_secret(), dict(self.key_versions))

    def master_secret(self) -> bytes:
        """The configured secret, or one kept in ``data_dir/secret.key`` (see :mod:`.secret_key_file`).

        Only a single-host install may keep it in a file: with a shared database every host
        must sign and seal with one key, so a server database needs ``BARBERSHOP_SECRET_KEY``.
        """
        if self.secret_key:
            if len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
                raise SettingsError(f"BARBERSHOP_SECRET_KEY must have at least {MIN_SECRET_KEY_LENGTH} characters")
            return self.secret_key.encode()
        if not self.uses_sqlite:
            raise SettingsError(
                "BARBERSHOP_SECRET_KEY must be set when BARBERSHOP_DATABASE_URL is a server database: "
                "every host using that database must share one master secret, and a key generated "
                f"into {self.data_dir / 'secret.key'} would differ from host to host"
            )
        try:
            return read_or_create_secret_key(self.data_dir / "secret.key").encode()
        except SecretKeyFileError as exc:
            raise SettingsError(str(exc)) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        reader = _Reader(env)
        return cls(
            data_dir=Path(reader.text("DATA_DIR", "data")),
            database_url=reader.optional("DATABASE_URL"),
            db_pool_size=reader.integer("DB_POOL_SIZE", 10),
            db_max_overflow=reader.integer("DB_MAX_OVERFLOW", 10),
            db_echo=reader.flag("DB_ECHO", default=False),
            broker_url=reader.optional("BROKER_URL"),
            broker_stream=reader.text("BROKER_STREAM", "barbershop:notifications"),
            secret_key=reader.optional("SECRET_KEY"),
            default_region=reader.text("DEFAULT_REGION", "RU").upper(),
            default_channel=reader.text("DEFAULT_CHANNEL", LOCAL_CHANNEL),
            local_channel=reader.flag("LOCAL_CHANNEL", default=False) if reader.optional("LOCAL_CHANNEL") else None,
            temporary_password_ttl=timedelta(hours=reader.integer("TEMP_PASSWORD_TTL_HOURS", 72)),
            create_missing_templates=reader.flag("CREATE_MISSING_TEMPLATES", default=False),
            argon2_time_cost=reader.integer("ARGON2_TIME_COST", 2, minimum=2),
            argon2_memory_kib=reader.integer("ARGON2_MEMORY_KIB", 19 * 1024, minimum=19 * 1024),
            argon2_parallelism=reader.integer("ARGON2_PARALLELISM", 1),
            hash_threads=reader.integer("HASH_THREADS", usable_cpus()),
            token_ttl=timedelta(minutes=reader.integer("TOKEN_TTL_MINUTES", 12 * 60)),
            audit_retention=timedelta(days=reader.integer("AUDIT_RETENTION_DAYS", 3 * 365, minimum=30)),
            reference_source=reader.optional("REFERENCE_SOURCE"),
            sweep_interval=reader.seconds("SWEEP_INTERVAL_SECONDS", 15),
            retry_base_delay=reader.seconds("RETRY_BASE_SECONDS", 30),
            send_lease=reader.seconds("SEND_LEASE_SECONDS", 120),
            broker_redelivery=reader.seconds("BROKER_REDELIVERY_SECONDS", 120),
            fallback_channels=reader.codes("FALLBACK_CHANNELS"),
            public_url=reader.url("PUBLIC_URL", DEFAULT_PUBLIC_URL),
            key_versions={
                purpose: reader.integer(f"KEY_VERSION_{purpose.upper().replace('-', '_')}", 1)
                for purpose in KEY_PURPOSES
            },
            environ=env,
        )


@attrs.frozen
class _Reader:
    env: Mapping[str, str]
    prefix: str = "BARBERSHOP_"

    def optional(self, name: str) -> str | None:
        value = self.env.get(self.prefix + name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def integer(self, name: str, default: int, *, minimum: int = 1) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{self.prefix}{name} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise SettingsError(f"{self.prefix}{name} must be at least {minimum}")
        return value

    def seconds(self, name: str, default: float) -> timedelta:
        """A positive number of seconds; fractions allowed (tests run the pipeline fast)."""
        raw = self.optional(name)
        if raw is None:
            return timedelta(seconds=default)
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{self.prefix}{name} must be a number of seconds, got {raw!r}") from None
        if not 0 < value < 10**7:
            raise SettingsError(f"{self.prefix}{name} must be a positive number of seconds")
        return timedelta(seconds=value)

    def codes(self, name: str) -> tuple[str, ...]:
        """A comma-separated list of channel codes, in order, each once."""
        raw = self.optional(name) or ""
        codes = [code.strip().lower() for code in raw.split(",") if code.strip()]
        if any(not code.replace("_", "").replace("-", "").isalnum() for code in codes):
            raise SettingsError(f"{self.prefix}{name} must be channel codes separated by commas, got {raw!r}")
        return tuple(dict.fromkeys(codes))

    def url(self, name: str, default: str) -> str:
        """An absolute http(s) address without a trailing slash, query or fragment."""
        raw = self.optional(name)
        if raw is None:
            return default
        parsed = urlsplit(raw)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise SettingsError(
                f"{self.prefix}{name} must be an http(s) address like https://barber.example, got {raw!r}"
            )
        return raw.rstrip("/")

    def flag(self, name: str, *, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{self.prefix}{name} must be true or false, got {raw!r}")
