"""`limit` and `offset` of every list endpoint, bounded once.

SQLite and PostgreSQL take LIMIT and OFFSET as signed 64-bit integers: an offset
of 2**63 or more overflowed in the driver (a 500) before these bounds made it a 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

MAX_LIMIT = 200
MAX_OFFSET = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows to return")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")]
