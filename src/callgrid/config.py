import re
from functools import lru_cache
from typing import Any, Literal

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Drivers Callgrid runs on, for URLs that name none (what psql, libpq and most tools take).
DEFAULT_DRIVERS = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}


def normalize_database_url(url: str) -> str:
    """`postgresql://...` and `postgres://...` as asyncpg URLs, `sqlite:///...` as aiosqlite:
    the scheme alone is rewritten, the rest of the URL is kept as it was written."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return url
    driver = DEFAULT_DRIVERS.get(scheme.lower())
    return f"{driver}://{rest}" if driver else url


def parse_schedule(value: str) -> tuple[float, ...]:
    """`"0,5,300"` -> (0.0, 5.0, 300.0): the delay before each webhook delivery attempt, in seconds."""
    try:
        steps = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError("the webhook retry schedule is comma-separated seconds, e.g. 0,5,300") from None
    if not steps:
        raise ValueError("the webhook retry schedule needs at least one delay")
    if any(step < 0 or step != step or step == float("inf") for step in steps):
        raise ValueError("webhook retry delays are finite and not negative")
    return steps


# A source of CSP's frame-ancestors: 'self', a scheme (https:), a host with a scheme, port, path.
_SOURCE = re.compile(
    r"^(?:'self'|[a-z][a-z0-9+.-]*:|(?:[a-z][a-z0-9+.-]*://)?(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*(?::(?:\d{1,5}|\*))?(?:/[^\s;,']*)?)$",
    re.IGNORECASE,
)


def check_frame_ancestors(value: str) -> str:
    """`'self'`, `'none'`, or sources separated by spaces (`'self' https://crm.example.com`)."""
    sources = value.split()
    if sources == ["'none'"]:
        return "'none'"
    unquoted = {"self", "none"} & {source.lower() for source in sources}  # a host named "self": surely not meant
    if not sources or unquoted or not all(_SOURCE.match(source) for source in sources):
        raise ValueError(
            "frame_ancestors is 'none', or sources separated by spaces: 'self', https:, "
            "https://example.com, https://*.example.com (quotes included)"
        )
    return " ".join(sources)


class Settings(BaseSettings):
    """Every setting is an environment variable with the CALLGRID_ prefix."""

    model_config = SettingsConfigDict(env_prefix="CALLGRID_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./callgrid.db"
    redis_url: str | None = None
    # Prefix of the Redis channels (and keys) Callgrid uses, so several installations can share
    # one Redis server (pub/sub channels ignore the database number).
    redis_prefix: str = Field(default="callgrid", min_length=1, max_length=100)
    public_url: str = "http://127.0.0.1:8000"
    api_key_cache_seconds: float = 30.0
    max_body_bytes: int = 1_048_576
    database_pool_size: int = Field(default=20, ge=1)
    sql_echo: bool = False
    # How often each server process brings the planner's statistics up to date (SQLite:
    # ANALYZE of the tables whose size has doubled or halved; PostgreSQL: ANALYZE). 0: never.
    analyze_interval_seconds: float = Field(default=3600.0, ge=0)

    # Delays in seconds before each delivery attempt: the first after the event, each next
    # one after the previous attempt failed; after the last, the delivery is `failed`.
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_allow_private_targets: bool = False
    # How often an idle delivery worker looks for work: the fallback, as it is woken at once
    # when its own process commits an event, through LISTEN/NOTIFY on PostgreSQL and through
    # Redis (when configured) when another process does.
    webhook_poll_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    # Deliveries one worker process has in flight at once.
    webhook_concurrency: int = Field(default=16, ge=1, le=1000)
    # Events (with their deliveries and attempts) older than this are deleted by the worker,
    # unless a delivery of theirs is still pending; 0 keeps them forever.
    webhook_retention_days: float = Field(default=30.0, ge=0)
    run_embedded_worker: bool = Field(default=True)

    # Rooms. Signs join tokens and room keys; unset: a secret generated on the first start and
    # kept in the database (every process of an installation then reads the same one).
    secret_key: str | None = Field(default=None, min_length=16)
    # Earlier secret keys, comma-separated: secrets stored encrypted under them stay readable
    # (never written with them) until `callgrid secrets rotate` rewrites them under secret_key.
    previous_secret_keys: str = ""
    # A live participant not heard from for this long is dropped (close code 4408).
    heartbeat_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # RTCIceServer objects for the room page (JSON), e.g. [{"urls": "stun:turn.example.com"}].
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)
    # Where recordings of rooms with `record: true` are written (one WebM file per participant
    # session, under a folder per room); created when the first recording starts.
    recordings_dir: str = "./recordings"
    # Event calls: the region (ISO 3166 alpha-2, e.g. "IN") of phone numbers given without
    # a country code; unset: such numbers are refused.
    default_phone_region: str | None = Field(default=None, min_length=2, max_length=2)

    # Who may show Callgrid's pages in a frame (CSP frame-ancestors): 'self', 'none', or sources
    # separated by spaces ("'self' https://crm.example.com") to embed booking pages elsewhere.
    frame_ancestors: str = "'self'"

    # Logs: one line per request and per webhook delivery attempt, as text or as JSON objects.
    log_format: Literal["text", "json"] = "text"
    # GET /metrics (Prometheus); false: 404.
    metrics: bool = True

    # Rate limits (callgrid.ratelimits): budgets in the `limits` notation, windows separated by
    # `;` ("100/second;3000/minute"; "" for no limit), counted per API key (api, tokens) or per
    # client address (public, bookings, joins); shared through Redis when CALLGRID_REDIS_URL is set.
    rate_limits: bool = True
    rate_limit_api: str = "100/second;3000/minute"
    # Join and replay tokens and API keys created.
    rate_limit_tokens: str = "20/second;600/minute"
    # Booking pages and slots, booking links, room and replay pages, join info; requests without a key.
    rate_limit_public: str = "20/second;300/minute"
    # Bookings, cancels and reschedules through the public booking pages.
    rate_limit_bookings: str = "3/second;20/minute"
    # Joins of rooms (their live sockets).
    rate_limit_joins: str = "10/second;120/minute"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("rate_limit_api", "rate_limit_tokens", "rate_limit_public", "rate_limit_bookings", "rate_limit_joins")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value.strip():
            try:
                windows = parse_many(value)
            except ValueError:
                windows = []
            if not windows or any(window.amount < 1 for window in windows):
                raise ValueError("a rate limit is windows like 100/second;3000/minute (or empty: none)")
        return value

    @field_validator("previous_secret_keys")
    @classmethod
    def _previous_secret_keys(cls, value: str) -> str:
        if any(len(key.strip()) < 16 for key in value.split(",") if key.strip()):
            raise ValueError("each previous secret key has at least 16 characters (keys are separated by commas)")
        return value

    def previous_secret_key_list(self) -> list[str]:
        return [key.strip() for key in self.previous_secret_keys.split(",") if key.strip()]

    @field_validator("frame_ancestors")
    @classmethod
    def _frame_ancestors(cls, value: str) -> str:
        return check_frame_ancestors(value)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("ice_servers")
    @classmethod
    def _ice_servers(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, server in enumerate(value):
            urls = server.get("urls")
            if not (isinstance(urls, str) and urls) and not (
                isinstance(urls, list) and urls and all(isinstance(u, str) and u for u in urls)
            ):
                raise ValueError(f"ice_servers[{index}].urls must be a URL or a list of URLs (stun:, turn:, turns:)")
            unknown = set(server) - {"urls", "username", "credential"}
            if unknown:
                raise ValueError(f"ice_servers[{index}] has unknown keys {sorted(unknown)}")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
