"""Train the answerability model (`answerability.py`) and write `answerability_model.json`.

Training data: the questions of the SQuAD 2.0 `tune` split (8 Wikipedia
articles laid out as companies; about half are adversarially written to look
answerable while they are not) and the shipped question set
(`data/evals/rag_eval.jsonl`). Never the `report` split, the shipped held-out
set or the held-out companies: those report what the model does on questions
it has not seen (`evaluate.py`).

Each question goes through the product's own retrieval (hybrid, as the API
runs it) and passage ranking; a question the 0.45 gate refuses is left out,
since the model never sees it. The features (`answerability.features`) are
standardised and fed to a logistic regression. The refusal threshold is then
chosen for precision first, from 5-fold out-of-fold probabilities: the
`--false-refusals` quantile (default 1%) of the answerable questions'
probabilities, so about that share of answerable questions that pass the gate
would be refused. The figures of the fit are stored with the model.

    .venv/bin/python assessments/02_rag_chatbot/evaluation/train_answerability.py \\
        [--squad ../shared/datasets/squad2] [--false-refusals 0.01] [--out PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    __package__ = "assessments.02_rag_chatbot.evaluation"

import argparse
import asyncio
import json
import tempfile
from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sqlmodel import Session

from core.config import Settings

from .. import chat, samples
from ..answerability import FEATURES, MODEL_PATH, features
from ..answering import passage_similarities
from ..corpus import company_corpus
from ..question_terms import TermStats
from ..schemas import ChatRequest
from .evaluate import offline_app, offline_settings
from .question_sets import EVAL_SET, SQUAD_DIR, EvalItem, load_items, load_squad

SEED = 0
C = 1.0  # scikit-learn's default regularisation; not tuned


async def collect(
    settings: Settings, items: Sequence[EvalItem], company_folders: Sequence[Path]
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the questions that pass the similarity gate."""
    app = offline_app(settings)
    rows, labels = [], []
    async with app.router.lifespan_context(app):
        state = app.state
        store = state.vector_store
        stats: dict[str, TermStats] = {}
        with Session(state.engine) as session:
            for root in company_folders:
                await samples.load_sample_companies(
                    session=session,
                    settings=state.settings,
                    rag=state.rag_settings,
                    vector_store=store,
                    root=root,
                )
            for item in items:
                turn = await chat.prepare_turn(
                    session=session,
                    rag=state.rag_settings,
                    llm=None,
                    vector_store=store,
                    chat_in=ChatRequest(query=item.question, company_id=item.company_id),
                    mode="hybrid",
                )
                if not turn.chunks:
                    continue
                if item.company_id not in stats:
                    corpus = company_corpus(store, item.company_id)
                    stats[item.company_id] = corpus.term_stats()
                candidates, similarities = await passage_similarities(
                    store.embedder, turn.search_query, turn.chunks
                )
                texts = [c.passage.ranking_text for c in candidates]
                rows.append(
                    features(
                        turn.search_query, texts, similarities, turn.chunks, stats[item.company_id]
                    )
                )
                labels.append(item.answerable)
    return np.array(rows), np.array(labels)


def fit(x: np.ndarray, y: np.ndarray, *, false_refusals: float) -> dict:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    out_of_fold = np.zeros(len(y))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=SEED).split(z, y):
        model = LogisticRegression(C=C, max_iter=2000).fit(z[train], y[train])
        out_of_fold[test] = model.predict_proba(z[test])[:, 1]
    threshold = float(np.quantile(out_of_fold[y], false_refusals))
    model = LogisticRegression(C=C, max_iter=2000).fit(z, y)
    return {
        "embedding_model": "all-MiniLM-L6-v2",
        "features": list(FEATURES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": model.coef_[0].round(6).tolist(),
        "intercept": round(float(model.intercept_[0]), 6),
        "threshold": round(threshold, 4),
        "trained_on": {
            "questions": int(len(y)),
            "answerable": int(y.sum()),
            "cross_validated_auc": round(float(roc_auc_score(y, out_of_fold)), 4),
            "false_refusals": round(float((out_of_fold[y] < threshold).mean()), 4),
            "unanswerable_refused": round(float((out_of_fold[~y] < threshold).mean()), 4),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--squad", type=Path, default=SQUAD_DIR)
    parser.add_argument("--false-refusals", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--features", type=Path, help="also save the feature matrix (.npz)")
    args = parser.parse_args(argv)

    items = load_squad("tune", args.squad) + load_items(EVAL_SET)
    with tempfile.TemporaryDirectory(prefix="rag-train-") as data_dir:
        settings = offline_settings(Path(data_dir))
        x, y = asyncio.run(collect(settings, items, [args.squad / "companies"]))
    if args.features:
        np.savez(args.features, x=x, y=y)
    model = fit(x, y, false_refusals=args.false_refusals)
    args.out.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(model["trained_on"], indent=2))
    print(f"threshold {model['threshold']}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
