"""The ID of the request being served, as `backend.middleware` set it on every request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection


def request_id(connection: HTTPConnection) -> str:
    return getattr(connection.state, "request_id", "") or ""


# `async def`: FastAPI runs a plain `def` dependency in its threadpool, a hop that costs
# more CPU than the lookup.
async def get_request_id(request: Request) -> str:
    return request_id(request)


RequestIdDep = Annotated[str, Depends(get_request_id)]
