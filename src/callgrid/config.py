from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting is an environment variable with the CALLGRID_ prefix."""

    model_config = SettingsConfigDict(env_prefix="CALLGRID_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./callgrid.db"
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    api_key_cache_seconds: float = 30.0
    max_body_bytes: int = 1_048_576
    database_pool_size: int = 10
    sql_echo: bool = False

    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    webhook_timeout_seconds: float = 10.0
    webhook_allow_private_targets: bool = False
    run_embedded_worker: bool = Field(default=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
