"""Chunking: a document's text → chunks sized in tokens of the active embedding model.

A chunk is never longer than the model reads (`chunk_sizes`), and a Markdown table split
across chunks repeats its header row.
"""

from __future__ import annotations

import re

from langchain_text_splitters import RecursiveCharacterTextSplitter

from core.embedding_client import EmbeddingClient

from .config import RagSettings

# (chunk size, overlap) in tokens of the embedding model, when settings leave them unset.
# OpenAI: the seed's 800/120. Local all-MiniLM-L6-v2 reads at most 256 tokens and was
# trained on pairs of up to 128: 128-token chunks score short questions higher than 200-
# or 256-token ones, so fewer answerable questions fall under the 0.45 threshold (README).
DEFAULT_CHUNK_TOKENS: dict[str, tuple[int, int]] = {"openai": (800, 120), "local": (128, 24)}

# Split at paragraph, line, sentence and clause boundaries before words and characters.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}")


def chunk_sizes(rag: RagSettings, embedder: EmbeddingClient) -> tuple[int, int]:
    """(size, overlap) in the embedder's tokens: settings, else the model's default."""
    default_size, default_overlap = DEFAULT_CHUNK_TOKENS.get(
        embedder.provider, DEFAULT_CHUNK_TOKENS["local"]
    )
    size = min(rag.CHUNK_SIZE_TOKENS or default_size, _content_limit(embedder))
    overlap = rag.CHUNK_OVERLAP_TOKENS
    overlap = default_overlap if overlap is None else overlap
    return size, min(overlap, size // 2)


def chunk_text(text: str, *, embedder: EmbeddingClient, size: int, overlap: int) -> list[str]:
    """Split `text` into chunks of at most `size` tokens (and never more than the model reads)."""
    special = embedder.count_tokens("")

    def tokens(piece: str) -> int:
        # Without the [CLS]/[SEP] every count includes: pieces are counted, then joined.
        return embedder.count_tokens(piece) - special

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=overlap,
        length_function=tokens,
        separators=_SEPARATORS,
        keep_separator="end",
    )
    chunks: list[str] = []
    for chunk in _with_table_headers(splitter.split_text(text), text):
        if embedder.count_tokens(chunk) <= embedder.max_input_tokens:
            chunks.append(chunk)
        else:  # joining pieces can add a token or two: split that chunk once more
            chunks.extend(
                chunk_text(chunk, embedder=embedder, size=max(16, size * 3 // 4), overlap=0)
            )
    return chunks


def _with_table_headers(chunks: list[str], text: str) -> list[str]:
    """Repeat a Markdown table's header above rows that a split separated from it.

    "| Starter | $49 per month |" means little without "| Plan | Monthly price |".
    """
    lines = text.split("\n")
    headers: dict[str, str] = {}  # table row -> its table's header and rule
    for i in range(1, len(lines)):
        if _TABLE_RULE.match(lines[i]) and lines[i - 1].startswith("|"):
            header = f"{lines[i - 1]}\n{lines[i]}"
            for row in lines[i + 1 :]:
                if not row.startswith("|"):
                    break
                headers[row] = header
    if not headers:
        return chunks
    result = []
    for chunk in chunks:
        first_row = next((line for line in chunk.split("\n") if line.startswith("|")), None)
        header = headers.get(first_row or "")
        if header and header not in chunk:
            before, _, after = chunk.partition(first_row or "")
            chunk = f"{before}{header}\n{first_row}{after}"
        result.append(chunk)
    return result


def _content_limit(embedder: EmbeddingClient) -> int:
    return embedder.max_input_tokens - embedder.count_tokens("")
