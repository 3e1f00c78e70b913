"""Ingest .txt/.md/.pdf files and folders for one company from the command line:

    .venv/bin/python assessments/02_rag_chatbot/ingest_cli.py \\
        --company acme-corp data/companies/acme-corp

It shows a progress bar, skips unchanged files, and exits 1 with the reason when a file
is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file path (a package named "02_…" cannot be `python -m`'d).
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "assessments.02_rag_chatbot"

import argparse
import asyncio

from sqlmodel import Session

from core.exceptions import AppException
from core.vector_store import create_vector_store

from .config import RagSettings
from .ingest import ingest_paths


async def _cli(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.config import get_settings
    from core.database import create_db_engine, init_db
    from core.embedding_client import create_embedding_client

    settings = get_settings()
    rag = RagSettings()
    engine = create_db_engine(settings.database_url)
    init_db(engine)
    embedder = create_embedding_client(settings)
    store = create_vector_store(settings, engine=engine, embedder=embedder)
    with Session(engine) as session, tqdm(unit="chunk", desc=args.company) as bar:
        results = await ingest_paths(
            args.paths,
            company_id=args.company,
            session=session,
            settings=settings,
            rag=rag,
            vector_store=store,
            company_name=args.name,
            on_progress=bar.update,
            on_total=lambda total: setattr(bar, "total", total),
        )
    for result in results:
        print(f"{result.status:>9}  {result.document.source}  ({result.document.chunks} chunks)")
    print(f"{args.company}: {store.count(args.company)} chunks indexed with {embedder.model}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ingest .txt/.md/.pdf files for one company.")
    parser.add_argument("--company", required=True, help="company id (slug), e.g. acme-corp")
    parser.add_argument("--name", help="display name when the company is new")
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_cli(args))
    except AppException as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
