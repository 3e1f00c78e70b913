"""Typed FastAPI dependencies for the shared clients, read from `app.state`.

The app factory builds each client once at start; handlers ask for them by
type (`llm: LLMDep`) and tests swap them with `app.dependency_overrides`.

They are `async def` although they do no I/O: FastAPI runs a plain `def`
dependency in its threadpool, a hop that costs more CPU than the lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.config import Settings
from core.embedding_client import EmbeddingClient
from core.llm_client import LLMClient
from core.vector_store import VectorStoreBackend


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_llm(request: Request) -> LLMClient | None:
    return request.app.state.llm


async def get_embedder(request: Request) -> EmbeddingClient:
    return request.app.state.embedder


async def get_vector_store(request: Request) -> VectorStoreBackend:
    return request.app.state.vector_store


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
LLMDep = Annotated[LLMClient | None, Depends(get_llm)]
EmbedderDep = Annotated[EmbeddingClient, Depends(get_embedder)]
VectorStoreDep = Annotated[VectorStoreBackend, Depends(get_vector_store)]
