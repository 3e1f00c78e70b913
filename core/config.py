"""The shared settings, read from the environment and `.env`.

Core holds what more than one part of the app reads (environment, logging, providers,
storage, HTTP, the scale-out engines). A setting only one assessment reads lives in that
assessment's `config.py` under the same variable name: `WorkflowSettings`, `RagSettings`,
and Assessment 3's `SaasSettings` and `AuthSettings` (JWT_*, ACCESS_TOKEN_EXPIRE_MINUTES,
PLATFORM_ADMIN_*, with its production check). Every field is documented in the README's
"Settings" table. Defaults are the offline demo: local providers, SQLite and FAISS under
`data/`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    computed_field,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ProviderChoice = Literal["auto", "openai", "local"]
Provider = Literal["openai", "local"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    ENVIRONMENT: Literal["development", "test", "production"] = "development"
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: Literal["auto", "json", "console"] = "auto"

    # Providers (SPEC §2): auto = openai when OPENAI_API_KEY is set, else local.
    LLM_PROVIDER: ProviderChoice = "auto"
    EMBEDDING_PROVIDER: ProviderChoice = "auto"
    OPENAI_API_KEY: SecretStr | None = None
    OPENAI_BASE_URL: str | None = None
    OPENAI_CHAT_MODEL: str = "gpt-4o-mini"
    OPENAI_EMBEDDING_MODEL: str = "text-embedding-3-small"
    OPENAI_EMBEDDING_DIMENSIONS: int = 1536
    OPENAI_EMBEDDING_BATCH_SIZE: int = 256
    # Short: a server that is down is found at once. Long: a local model on a CPU writes a few
    # tokens a second, and a non-streamed answer arrives only when it is complete.
    LLM_CONNECT_TIMEOUT_SECONDS: float = Field(5.0, gt=0)
    LLM_READ_TIMEOUT_SECONDS: float = Field(
        120.0,
        gt=0,
        validation_alias=AliasChoices("LLM_READ_TIMEOUT_SECONDS", "LLM_TIMEOUT_SECONDS"),
    )
    LLM_MAX_ATTEMPTS: int = 3
    LLM_RETRY_WAIT_INITIAL_SECONDS: float = 0.5
    LLM_RETRY_WAIT_MAX_SECONDS: float = 8.0
    LLM_CIRCUIT_FAILURE_THRESHOLD: int = 5
    LLM_CIRCUIT_RESET_SECONDS: float = 30.0
    LLM_STRUCTURED_OUTPUT: Literal["json_schema", "json_object"] = "json_schema"
    LOCAL_EMBEDDING_THREADS: int = 2
    LOCAL_EMBEDDING_BATCH_SIZE: int = 32

    # Storage
    DATA_DIR: Path = PROJECT_ROOT / "data"
    DATABASE_URL: str | None = None
    VECTOR_STORE: Literal["faiss", "pgvector"] = "faiss"
    PGVECTOR_DATABASE_URL: str | None = None
    # Upgrade the schema at start; unset = yes, except in production (run `make migrate` first).
    MIGRATE_ON_START: bool | None = None

    # HTTP
    # Largest uploaded file: Assessment 1's CSV import and Assessment 2's documents.
    MAX_UPLOAD_BYTES: int = 10 * 1024 * 1024
    CORS_ORIGINS: list[str] = ["http://localhost:8501", "http://127.0.0.1:8501"]
    MAX_REQUEST_BODY_BYTES: int = 25 * 1024 * 1024
    BACKEND_URL: str = "http://127.0.0.1:8000"

    # Scale-out engines (unset = embedded)
    REDIS_URL: str | None = None
    EMBEDDING_CACHE_TTL_SECONDS: int = Field(24 * 3600, ge=1)
    CELERY_BROKER_URL: str | None = None
    CELERY_QUEUE: str = Field("assessments", min_length=1)

    # Demo data
    LOAD_SAMPLE_DATA: bool = True

    @computed_field  # type: ignore[prop-decorator]
    @property
    def llm_provider(self) -> Provider:
        return _resolve(self.LLM_PROVIDER, self._openai_configured)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def embedding_provider(self) -> Provider:
        return _resolve(self.EMBEDDING_PROVIDER, self._openai_configured)

    @property
    def _openai_configured(self) -> bool:
        has_key = self.OPENAI_API_KEY is not None and bool(self.OPENAI_API_KEY.get_secret_value())
        return has_key or bool(self.OPENAI_BASE_URL)

    @property
    def database_url(self) -> str:
        return self.DATABASE_URL or f"sqlite:///{self.DATA_DIR / 'app.db'}"

    @property
    def pgvector_database_url(self) -> str | None:
        """PGVECTOR_DATABASE_URL, else DATABASE_URL when that is PostgreSQL."""
        if self.PGVECTOR_DATABASE_URL:
            return self.PGVECTOR_DATABASE_URL
        if self.DATABASE_URL and self.DATABASE_URL.startswith(("postgresql", "postgres:")):
            return self.DATABASE_URL
        return None

    @property
    def migrate_on_start(self) -> bool:
        if self.MIGRATE_ON_START is not None:
            return self.MIGRATE_ON_START
        return self.ENVIRONMENT != "production"

    @property
    def faiss_index_dir(self) -> Path:
        return self.DATA_DIR / "faiss_indexes"

    @property
    def upload_dir(self) -> Path:
        return self.DATA_DIR / "uploads"


def _resolve(choice: ProviderChoice, openai_configured: bool) -> Provider:
    if choice == "auto":
        return "openai" if openai_configured else "local"
    return choice


@lru_cache
def get_settings() -> Settings:
    return Settings()
