"""The retrieval pipeline on BEIR SciFact: nDCG@10 over the 300 test queries.

A check that the product's own chunking, embedding and scoring lose nothing
against published figures (all-MiniLM-L6-v2: 64.51; BM25: 66.5). The corpus
(5,183 abstracts, title + " " + text) is chunked with `chunking.chunk_text` at
the product's chunk sizes, embedded by the active embedder into the configured
vector store (`VECTOR_STORE`: FAISS by default, pgvector with its settings) as
one company, and each query runs through `retrieval.retrieve` in vector and
hybrid modes; a document scores as its best chunk.

    .venv/bin/python assessments/02_rag_chatbot/evaluation/evaluate_scifact.py \\
        --dataset ../shared/datasets/scifact --data-dir /tmp/scifact-index

Embedding the corpus takes a while on a laptop CPU (minutes per thousand
chunks); `--data-dir` keeps the index, so a second run only searches.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file path (a package named "02_…" cannot be `python -m`'d).
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    __package__ = "assessments.02_rag_chatbot.evaluation"

import argparse
import asyncio
import csv
import json
import math
import tempfile
import time
from collections import defaultdict

from tqdm import tqdm

from core.config import PROJECT_ROOT, Settings
from core.database import create_db_engine, init_db
from core.embedding_client import create_embedding_client
from core.vector_store import VectorStoreBackend, create_vector_store

from ..chunking import chunk_sizes, chunk_text
from ..config import RagSettings
from ..retrieval import RETRIEVAL_MODES, retrieve

COMPANY = "scifact"
DEFAULT_DATASET = PROJECT_ROOT.parent / "shared" / "datasets" / "scifact"
PUBLISHED = {"all-MiniLM-L6-v2": 64.51, "text-embedding-3-small": 73.37, "BM25": 66.5}
BATCH_CHUNKS = 2000
CHUNKS_PER_QUERY = 30  # enough chunks for 10 distinct documents


def load_corpus(dataset: Path) -> dict[str, str]:
    with (dataset / "corpus.jsonl").open(encoding="utf-8") as handle:
        rows = (json.loads(line) for line in handle if line.strip())
        return {row["_id"]: f"{row['title']} {row['text']}".strip() for row in rows}


def load_test_queries(dataset: Path) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (dataset / "qrels" / "test.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    with (dataset / "queries.jsonl").open(encoding="utf-8") as handle:
        rows = (json.loads(line) for line in handle if line.strip())
        queries = {row["_id"]: row["text"] for row in rows if row["_id"] in qrels}
    return queries, dict(qrels)


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    gains = [relevant.get(doc_id, 0) for doc_id in ranked[:10]]
    dcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


async def index_corpus(
    corpus: dict[str, str], *, rag: RagSettings, store: VectorStoreBackend
) -> None:
    if store.count(COMPANY) > 0:
        return
    size, overlap = chunk_sizes(rag, store.embedder)
    texts: list[str] = []
    metadata: list[dict] = []
    for doc_id, text in tqdm(corpus.items(), desc="chunking", unit="doc"):
        for index, chunk in enumerate(
            chunk_text(text, embedder=store.embedder, size=size, overlap=overlap)
        ):
            texts.append(chunk)
            metadata.append({"document_id": doc_id, "source": doc_id, "chunk_index": index})
    with tqdm(total=len(texts), desc="embedding", unit="chunk") as bar:
        for start in range(0, len(texts), BATCH_CHUNKS):
            await store.add_documents(
                documents=texts[start : start + BATCH_CHUNKS],
                company_id=COMPANY,
                metadata=metadata[start : start + BATCH_CHUNKS],
                on_progress=bar.update,
            )


async def run(dataset: Path, data_dir: Path, modes: list[str]) -> dict[str, float]:
    settings = Settings(_env_file=None, DATA_DIR=data_dir, LOG_LEVEL="WARNING")  # type: ignore[call-arg]
    rag = RagSettings(_env_file=None)  # type: ignore[call-arg]
    engine = create_db_engine(settings.database_url)
    init_db(engine)
    embedder = create_embedding_client(settings)
    store = create_vector_store(settings, engine=engine, embedder=embedder)
    await index_corpus(load_corpus(dataset), rag=rag, store=store)
    queries, qrels = load_test_queries(dataset)
    size, overlap = chunk_sizes(rag, embedder)
    print(
        f"SciFact test: {len(queries)} queries, {store.count(COMPANY)} chunks "
        f"({size}/{overlap} tokens), embeddings {embedder.model}"
    )
    scores: dict[str, float] = {}
    for mode in modes:
        started = time.perf_counter()
        total = 0.0
        for query_id, query in tqdm(queries.items(), desc=mode, unit="query", leave=False):
            retrieval = await retrieve(
                query,
                company_id=COMPANY,
                vector_store=store,
                k=CHUNKS_PER_QUERY,
                threshold=-1.0,
                mode=mode,  # type: ignore[arg-type]
                candidates=100,
            )
            ranked = list(dict.fromkeys(chunk.document_id or "" for chunk in retrieval.ranked))
            total += ndcg_at_10(ranked, qrels[query_id])
        scores[mode] = 100 * total / len(queries)
        elapsed = time.perf_counter() - started
        per_query = elapsed / len(queries) * 1000
        print(f"  {mode:<7} nDCG@10 = {scores[mode]:.2f}   ({per_query:.0f} ms/query)")
    print("published: " + ", ".join(f"{name} {value}" for name, value in PUBLISHED.items()))
    engine.dispose()
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--data-dir", type=Path, help="keep the index here (default: temporary)")
    parser.add_argument("--mode", choices=RETRIEVAL_MODES, action="append", help="default: both")
    args = parser.parse_args(argv)
    modes = args.mode or list(RETRIEVAL_MODES)
    if args.data_dir is not None:
        asyncio.run(run(args.dataset, args.data_dir, modes))
        return 0
    with tempfile.TemporaryDirectory(prefix="scifact-") as data_dir:
        asyncio.run(run(args.dataset, Path(data_dir), modes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
