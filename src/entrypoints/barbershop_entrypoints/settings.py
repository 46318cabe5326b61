"""Settings from the environment (``BARBERSHOP_*``), read once by the composition root.

With nothing set, the product runs embedded: a SQLite file, the queue inside the
process, and the local message channel, all under ``./data``.

One :class:`Settings` groups one frozen part per concern — :class:`DatabaseConfig`,
:class:`QueueConfig`, :class:`WebConfig`, :class:`SecurityConfig`, :class:`AuditConfig`,
:class:`RegistrationConfig` and :class:`ChannelsConfig` (the local channel and one part per
provider: the adapters' own settings classes). :meth:`Settings.from_env` is the only place
that reads a ``BARBERSHOP_*`` variable, and it reads every one through :class:`EnvReader`:
one typed reader per kind of value (bool, int, float, duration, url, enum, list). A value it
cannot read stops the start with a :class:`SettingsError` that names the variable and says
what it expects, e.g. ``BARBERSHOP_DB_ECHO: expected one of true/false/1/0/yes/no/on/off,
got 'ture'``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

import attrs

from barbershop_adapters.channels.sms import SmsRuSettings
from barbershop_adapters.channels.telegram import TelegramGatewaySettings
from barbershop_adapters.channels.vk import VkSettings
from barbershop_adapters.channels.whatsapp import WhatsAppCloudSettings
from barbershop_adapters.key_derivation import KEY_PURPOSES, KeyRing
from barbershop_adapters.sqlalchemy.engine import DEFAULT_MAX_OVERFLOW, DEFAULT_POOL_SIZE
from barbershop_core.policies import PromoPolicy, RegistrationPolicy, RetryPolicy
from barbershop_core.reference import LOCAL_CHANNEL
from barbershop_entrypoints.secret_key_file import MIN_SECRET_KEY_LENGTH, SecretKeyFileError, read_or_create_secret_key


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


PREFIX: Final = "BARBERSHOP_"
DEFAULT_PUBLIC_URL: Final = "http://127.0.0.1:8000"
"""``barbershop serve`` on its default address: right for the embedded default on one machine."""
TRUE_WORDS: Final = ("true", "1", "yes", "on")
FALSE_WORDS: Final = ("false", "0", "no", "off")
"""The one set of spellings every boolean variable accepts (any letter case)."""
BOOLEAN_WORDS: Final = "/".join(word for pair in zip(TRUE_WORDS, FALSE_WORDS, strict=True) for word in pair)
LOG_FORMATS: Final = ("text", "json")

DurationUnit = Literal["seconds", "minutes", "hours", "days"]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@attrs.frozen
class EnvReader:
    """The one strict reader of ``BARBERSHOP_*`` variables.

    A variable that is unset or blank takes its default; any other value must read as its
    type, or :class:`SettingsError` says ``<VARIABLE>: expected <what>, got <value>``.
    """

    env: Mapping[str, str] = attrs.field(repr=False)
    prefix: str = PREFIX

    def variable(self, name: str) -> str:
        return self.prefix + name

    def refuse(self, name: str, expected: str, raw: str) -> SettingsError:
        return SettingsError(f"{self.variable(name)}: expected {expected}, got {raw!r}")

    def optional(self, name: str) -> str | None:
        value = self.env.get(self.variable(name), "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def required(self, name: str, *, because: str) -> str:
        value = self.optional(name)
        if value is None:
            raise SettingsError(f"{self.variable(name)}: expected a value {because}, got nothing")
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.optional_boolean(name)
        return default if value is None else value

    def optional_boolean(self, name: str) -> bool | None:
        """None when unset: the caller decides (e.g. the local channel's default depends on the database)."""
        raw = self.optional(name)
        if raw is None:
            return None
        return self._boolean(name, raw, f"one of {BOOLEAN_WORDS}")

    def auto_boolean(self, name: str) -> bool | None:
        """``auto`` (or unset): None; otherwise a boolean."""
        raw = self.optional(name)
        if raw is None or raw.lower() == "auto":
            return None
        return self._boolean(name, raw, f"auto or one of {BOOLEAN_WORDS}")

    def _boolean(self, name: str, raw: str, expected: str) -> bool:
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise self.refuse(name, expected, raw)

    def integer(self, name: str, default: int, *, minimum: int = 1) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        return self._whole(name, raw, f"a whole number, at least {minimum}", minimum)

    def _whole(self, name: str, raw: str, expected: str, minimum: int) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise self.refuse(name, expected, raw) from None
        if value < minimum:
            raise self.refuse(name, expected, raw)
        return value

    def real(self, name: str, default: float, *, expected: str = "a positive number") -> float:
        """A positive finite number below 10**7; fractions allowed."""
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.refuse(name, expected, raw) from None
        if not (math.isfinite(value) and 0 < value < 10**7):
            raise self.refuse(name, expected, raw)
        return value

    def duration(self, name: str, default: timedelta, *, unit: DurationUnit, minimum: int = 1) -> timedelta:
        """Seconds may have fractions (tests run the pipeline fast); minutes, hours and days are
        whole numbers of at least ``minimum``."""
        if unit == "seconds":
            return timedelta(seconds=self.real(name, default.total_seconds(), expected="a positive number of seconds"))
        raw = self.optional(name)
        if raw is None:
            return default
        value = self._whole(name, raw, f"a whole number of {unit}, at least {minimum}", minimum)
        return timedelta(**{unit: value})

    def url(self, name: str, default: str) -> str:
        """An absolute http(s) address without a trailing slash, query or fragment."""
        raw = self.optional(name)
        if raw is None:
            return default
        parsed = urlsplit(raw)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise self.refuse(name, "an http(s) address like https://barber.example", raw)
        return raw.rstrip("/")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """One of ``choices`` (any letter case), returned in lower case."""
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() not in choices:
            raise self.refuse(name, f"one of {'/'.join(choices)}", raw)
        return raw.lower()

    def codes(self, name: str) -> tuple[str, ...]:
        """A comma-separated list of channel codes, in order, each once."""
        raw = self.optional(name) or ""
        codes = [code.strip().lower() for code in raw.split(",") if code.strip()]
        if any(not code.replace("_", "").replace("-", "").isalnum() for code in codes):
            raise self.refuse(name, "channel codes separated by commas", raw)
        return tuple(dict.fromkeys(codes))


def environment(environ: Mapping[str, str] | None = None) -> EnvReader:
    """The reader over ``environ``, or over this process's environment."""
    return EnvReader(dict(os.environ if environ is None else environ))


def read_log_format(environ: Mapping[str, str] | None = None) -> str:
    """``BARBERSHOP_LOG_FORMAT``: ``text`` (the default) or ``json``. Read on its own too: logging
    is set up before the other settings, and again in every process uvicorn spawns."""
    return _log_format(environment(environ))


def _log_format(reader: EnvReader) -> str:
    return reader.choice("LOG_FORMAT", "text", LOG_FORMATS)


@attrs.frozen
class DatabaseConfig:
    url: str | None = attrs.field(default=None, repr=False)  # it may hold a password
    """``BARBERSHOP_DATABASE_URL``; None: a SQLite file in ``data_dir``."""
    pool_size: int = DEFAULT_POOL_SIZE
    max_overflow: int = DEFAULT_MAX_OVERFLOW
    echo: bool = False

    @classmethod
    def read(cls, reader: EnvReader) -> DatabaseConfig:
        return cls(
            url=reader.optional("DATABASE_URL"),
            pool_size=reader.integer("DB_POOL_SIZE", DEFAULT_POOL_SIZE),
            max_overflow=reader.integer("DB_MAX_OVERFLOW", DEFAULT_MAX_OVERFLOW, minimum=0),
            echo=reader.boolean("DB_ECHO", default=False),
        )


@attrs.frozen
class QueueConfig:
    """The broker and the timing of the send pipeline."""

    broker_url: str | None = attrs.field(default=None, repr=False)  # it may hold a password
    """``redis://…`` for a Redis Stream broker; None: the queue runs inside the process."""
    broker_stream: str = "barbershop:notifications"
    """The Redis stream key of the queue; installations sharing one Redis need different ones."""
    broker_redelivery: timedelta = timedelta(minutes=2)
    """A Redis message left unacknowledged this long is reclaimed by another worker."""
    sweep_interval: timedelta = timedelta(seconds=15)
    """How often the scheduler queues due notifications: a retry leaves at most this late."""
    retry_base_delay: timedelta = timedelta(seconds=30)
    """A4: the first retry's delay; each next one is four times longer (with jitter)."""
    send_lease: timedelta = timedelta(minutes=2)
    """How long a worker owns a send attempt; must exceed the slowest provider call."""

    @classmethod
    def read(cls, reader: EnvReader) -> QueueConfig:
        return cls(
            broker_url=reader.optional("BROKER_URL"),
            broker_stream=reader.text("BROKER_STREAM", "barbershop:notifications"),
            broker_redelivery=reader.duration("BROKER_REDELIVERY_SECONDS", timedelta(seconds=120), unit="seconds"),
            sweep_interval=reader.duration("SWEEP_INTERVAL_SECONDS", timedelta(seconds=15), unit="seconds"),
            retry_base_delay=reader.duration("RETRY_BASE_SECONDS", timedelta(seconds=30), unit="seconds"),
            send_lease=reader.duration("SEND_LEASE_SECONDS", timedelta(seconds=120), unit="seconds"),
        )


@attrs.frozen
class WebConfig:
    public_url: str = DEFAULT_PUBLIC_URL
    """Where clients reach this installation; their welcome message links to its ``/client/login``."""
    cookie_secure: bool | None = None
    """``BARBERSHOP_COOKIE_SECURE``: the pages' cookies always/never ``Secure``; None (``auto``):
    ``Secure`` when the request came over https."""
    metrics_token: str | None = attrs.field(default=None, repr=False)
    """The bearer token of ``/metrics``; None: ``/metrics`` is 404."""

    @classmethod
    def read(cls, reader: EnvReader) -> WebConfig:
        return cls(
            public_url=reader.url("PUBLIC_URL", DEFAULT_PUBLIC_URL),
            cookie_secure=reader.auto_boolean("COOKIE_SECURE"),
            metrics_token=reader.optional("METRICS_TOKEN"),
        )


@attrs.frozen
class SecurityConfig:
    secret_key: str | None = attrs.field(default=None, repr=False)
    """Master secret; None: generated once into ``data_dir/secret.key``."""
    key_versions: Mapping[str, int] = attrs.field(factory=dict)
    """``BARBERSHOP_KEY_VERSION_TOKENS`` / ``_SECRET_BOX`` / ``_PARTNER_KEYS`` / ``_CALLBACKS``: raise
    one to rotate that purpose's key alone (see :class:`barbershop_adapters.key_derivation.KeyRing`)."""
    token_ttl: timedelta = timedelta(hours=12)
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    hash_threads: int = attrs.field(factory=usable_cpus)
    """Threads hashing passwords off the event loop: one per CPU (argon2 releases the GIL;
    more threads than CPUs only queue inside the kernel and add latency)."""

    @classmethod
    def read(cls, reader: EnvReader) -> SecurityConfig:
        return cls(
            secret_key=reader.optional("SECRET_KEY"),
            key_versions={
                purpose: reader.integer(f"KEY_VERSION_{purpose.upper().replace('-', '_')}", 1)
                for purpose in KEY_PURPOSES
            },
            token_ttl=reader.duration("TOKEN_TTL_MINUTES", timedelta(minutes=12 * 60), unit="minutes"),
            argon2_time_cost=reader.integer("ARGON2_TIME_COST", 2, minimum=2),
            argon2_memory_kib=reader.integer("ARGON2_MEMORY_KIB", 19 * 1024, minimum=19 * 1024),
            argon2_parallelism=reader.integer("ARGON2_PARALLELISM", 1),
            hash_threads=reader.integer("HASH_THREADS", usable_cpus()),
        )


@attrs.frozen
class AuditConfig:
    retention: timedelta = timedelta(days=3 * 365)
    """How long audit events are kept; ``barbershop audit purge`` deletes older ones."""

    @classmethod
    def read(cls, reader: EnvReader) -> AuditConfig:
        return cls(retention=reader.duration("AUDIT_RETENTION_DAYS", timedelta(days=3 * 365), unit="days", minimum=30))


@attrs.frozen
class RegistrationConfig:
    """What :class:`~barbershop_core.policies.RegistrationPolicy` is built from."""

    default_region: str = "RU"
    default_channel: str = LOCAL_CHANNEL
    temporary_password_ttl: timedelta = timedelta(hours=72)
    create_missing_templates: bool = False
    fallback_channels: tuple[str, ...] = ()
    """``BARBERSHOP_FALLBACK_CHANNELS=telegram,whatsapp,sms``: the fallback chain, in order."""

    @classmethod
    def read(cls, reader: EnvReader) -> RegistrationConfig:
        return cls(
            default_region=reader.text("DEFAULT_REGION", "RU").upper(),
            default_channel=reader.text("DEFAULT_CHANNEL", LOCAL_CHANNEL),
            temporary_password_ttl=reader.duration("TEMP_PASSWORD_TTL_HOURS", timedelta(hours=72), unit="hours"),
            create_missing_templates=reader.boolean("CREATE_MISSING_TEMPLATES", default=False),
            fallback_channels=reader.codes("FALLBACK_CHANNELS"),
        )


@attrs.frozen
class LocalChannelConfig:
    enabled: bool | None = None
    """``BARBERSHOP_LOCAL_CHANNEL``; None: on for the embedded default only."""
    echo: bool | None = None
    """``BARBERSHOP_LOCAL_CHANNEL_ECHO``; None (``auto``): the password is printed only to a terminal."""


@attrs.frozen
class WhatsAppWebhookConfig:
    """The secrets of WhatsApp's delivery reports (independent of the sending credentials)."""

    app_secret: str | None = attrs.field(default=None, repr=False)
    verify_token: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class ChannelsConfig:
    """The local channel, and each provider's settings (None: its credential is not set)."""

    local: LocalChannelConfig = LocalChannelConfig()
    sms: SmsRuSettings | None = None
    telegram: TelegramGatewaySettings | None = None
    whatsapp: WhatsAppCloudSettings | None = None
    whatsapp_webhook: WhatsAppWebhookConfig = WhatsAppWebhookConfig()
    vk: VkSettings | None = None

    @classmethod
    def read(cls, reader: EnvReader) -> ChannelsConfig:
        return cls(
            local=LocalChannelConfig(
                enabled=reader.optional_boolean("LOCAL_CHANNEL"), echo=reader.auto_boolean("LOCAL_CHANNEL_ECHO")
            ),
            sms=_sms(reader),
            telegram=_telegram(reader),
            whatsapp=_whatsapp(reader),
            whatsapp_webhook=WhatsAppWebhookConfig(
                app_secret=reader.optional("WHATSAPP_APP_SECRET"), verify_token=reader.optional("WHATSAPP_VERIFY_TOKEN")
            ),
            vk=_vk(reader),
        )


# Each provider's variables are read whether or not its credential is set: a typo in one
# stops the start even before the channel is switched on.


def _sms(reader: EnvReader) -> SmsRuSettings | None:
    api_id = reader.optional("SMSRU_API_ID")
    sender = reader.optional("SMSRU_SENDER")
    base_url = reader.text("SMSRU_BASE_URL", "https://sms.ru")
    test = reader.boolean("SMSRU_TEST", default=False)
    if api_id is None:
        return None
    return SmsRuSettings(api_id=api_id, sender=sender, base_url=base_url, test=test)


def _telegram(reader: EnvReader) -> TelegramGatewaySettings | None:
    token = reader.optional("TELEGRAM_GATEWAY_TOKEN")
    base_url = reader.text("TELEGRAM_GATEWAY_BASE_URL", "https://gatewayapi.telegram.org")
    sender_username = reader.optional("TELEGRAM_GATEWAY_SENDER_USERNAME")
    callback_url = reader.optional("TELEGRAM_GATEWAY_CALLBACK_URL")
    if token is None:
        return None
    return TelegramGatewaySettings(
        token=token, base_url=base_url, sender_username=sender_username, callback_url=callback_url
    )


def _whatsapp(reader: EnvReader) -> WhatsAppCloudSettings | None:
    token = reader.optional("WHATSAPP_ACCESS_TOKEN")
    language_code = reader.text("WHATSAPP_TEMPLATE_LANGUAGE", "ru")
    base_url = reader.text("WHATSAPP_BASE_URL", "https://graph.facebook.com")
    if token is None:
        return None
    because = f"with {reader.variable('WHATSAPP_ACCESS_TOKEN')} (the channel's other credentials)"
    return WhatsAppCloudSettings(
        access_token=token,
        phone_number_id=reader.required("WHATSAPP_PHONE_NUMBER_ID", because=because),
        template_name=reader.required("WHATSAPP_TEMPLATE_NAME", because=because),
        language_code=language_code,
        base_url=base_url,
    )


def _vk(reader: EnvReader) -> VkSettings | None:
    token = reader.optional("VK_ACCESS_TOKEN")
    base_url = reader.text("VK_BASE_URL", "https://api.vk.com")
    if token is None:
        return None
    return VkSettings(access_token=token, base_url=base_url)


@attrs.frozen
class Settings:
    data_dir: Path = Path("data")
    database: DatabaseConfig = DatabaseConfig()
    queue: QueueConfig = QueueConfig()
    web: WebConfig = WebConfig()
    security: SecurityConfig = attrs.field(factory=SecurityConfig)
    audit: AuditConfig = AuditConfig()
    registration: RegistrationConfig = RegistrationConfig()
    channels: ChannelsConfig = ChannelsConfig()
    reference_source: str | None = None
    """A JSON file path or an http(s) URL that the scheduler syncs channels and templates from."""
    log_format: str = "text"
    """``BARBERSHOP_LOG_FORMAT`` (see :func:`read_log_format`)."""

    @property
    def embedded(self) -> bool:
        return self.database.url is None

    @property
    def effective_database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'barbershop.sqlite3').resolve()}"

    @property
    def uses_sqlite(self) -> bool:
        """The embedded default or a configured SQLite file (one host)."""
        return self.database.url is None or self.database.url.split(":", 1)[0].split("+", 1)[0] == "sqlite"

    @property
    def local_channel_enabled(self) -> bool:
        enabled = self.channels.local.enabled
        return self.embedded if enabled is None else enabled

    @property
    def local_messages_file(self) -> Path:
        return self.data_dir / "messages.jsonl"

    def registration_policy(self) -> RegistrationPolicy:
        return RegistrationPolicy(
            default_region=self.registration.default_region,
            default_channel=self.registration.default_channel,
            temporary_password_ttl=self.registration.temporary_password_ttl,
            create_missing_templates=self.registration.create_missing_templates,
            fallback_channels=self.registration.fallback_channels,
        )

    @property
    def sign_in_url(self) -> str:
        return f"{self.web.public_url}/client/login"

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(base_delay=self.queue.retry_base_delay, lease=self.queue.send_lease)

    def promo_policy(self) -> PromoPolicy:
        return PromoPolicy()

    def key_ring(self) -> KeyRing:
        return KeyRing(self.master_secret(), dict(self.security.key_versions))

    def master_secret(self) -> bytes:
        """The configured secret, or one kept in ``data_dir/secret.key`` (see :mod:`.secret_key_file`).

        Only a single-host install may keep it in a file: with a shared database every host
        must sign and seal with one key, so a server database needs ``BARBERSHOP_SECRET_KEY``.
        """
        secret_key = self.security.secret_key
        if secret_key:
            if len(secret_key) < MIN_SECRET_KEY_LENGTH:
                raise SettingsError(f"BARBERSHOP_SECRET_KEY must have at least {MIN_SECRET_KEY_LENGTH} characters")
            return secret_key.encode()
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
        """Read every ``BARBERSHOP_*`` variable (this process's environment by default)."""
        return cls.read(environment(environ))

    @classmethod
    def read(cls, reader: EnvReader) -> Settings:
        return cls(
            data_dir=Path(reader.text("DATA_DIR", "data")),
            database=DatabaseConfig.read(reader),
            queue=QueueConfig.read(reader),
            web=WebConfig.read(reader),
            security=SecurityConfig.read(reader),
            audit=AuditConfig.read(reader),
            registration=RegistrationConfig.read(reader),
            channels=ChannelsConfig.read(reader),
            reference_source=reader.optional("REFERENCE_SOURCE"),
            log_format=_log_format(reader),
        )
