"""Intent classification: Sales, Support or Partnership, with a confidence in [0, 1].

Two implementations behind one step (`classify_intent`):

- LLM: `prompts/classify.txt` in JSON mode, parsed into `IntentPrediction`.
- local: TF-IDF word and character n-grams into a linear SVM (no intercept)
  whose scores are calibrated into probabilities by one Platt sigmoid per intent,
  fitted on 5-fold out-of-fold scores (what scikit-learn's
  `CalibratedClassifierCV(method="sigmoid", ensemble=False)` does, written out so
  a prediction is two matrix operations); the confidence is the calibrated
  probability of the predicted intent. It trains on the shipped
  `data/leads/intent_train.csv` at first use (well under a second) and stays in
  memory, so no pickled model is committed. `evaluate.py` measures it.

A prediction does not go through scikit-learn's `TfidfVectorizer.transform`:
its input checks cost about 1.5 ms a call, ten times the maths. `TfidfFeatures`
applies the fitted vectoriser itself (its analyzer, vocabulary and idf: the same
numbers, and a test checks they agree), and an intent's score is a dot product
over the message's few non-zero features.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, Field, field_validator
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.svm import LinearSVC

from core.ai_step import LOCAL_PROVIDER, StepOutcome, run_step
from core.config import PROJECT_ROOT, Settings
from core.exceptions import AppException
from core.llm_client import LLMClient
from core.prompts import load_prompt

Intent = Literal["Sales", "Support", "Partnership"]
INTENTS: tuple[Intent, ...] = ("Sales", "Support", "Partnership")
LEADS_DATA_DIR = PROJECT_ROOT / "data" / "leads"
TRAINING_DATA = LEADS_DATA_DIR / "intent_train.csv"
PROMPTS_DIR = Path(__file__).parent / "prompts"


class IntentPrediction(BaseModel):
    """The classification both implementations return (and the LLM's JSON schema)."""

    intent: Intent = Field(description="Sales, Support or Partnership")
    confidence: float = Field(description="Probability that the intent is right, 0 to 1")

    @field_validator("intent", mode="before")
    @classmethod
    def _canonical_intent(cls, value: object) -> object:
        if isinstance(value, str):
            for intent in INTENTS:
                if value.strip().lower() == intent.lower():
                    return intent
        return value

    @field_validator("confidence")
    @classmethod
    def _clamp_confidence(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("confidence must be a finite number")
        return min(1.0, max(0.0, value))


@dataclass(frozen=True)
class TfidfFeatures:
    """A fitted `TfidfVectorizer` (sublinear tf, idf, l2 norm) applied to one text.

    `transform(text)` is what the vectoriser's own `transform([text])` gives, as the
    columns and values of the text's non-zero features.
    """

    analyze: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray

    @classmethod
    def of(cls, vectorizer: TfidfVectorizer) -> TfidfFeatures:
        if not (vectorizer.sublinear_tf and vectorizer.use_idf and vectorizer.norm == "l2"):
            raise ValueError("TfidfFeatures computes sublinear tf, idf and l2 norm only")
        return cls(vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_)

    def transform(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(map(self.vocabulary.get, self.analyze(text)))
        counts.pop(None, None)  # the terms that are not in the vocabulary
        columns = np.fromiter(counts, dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (np.log(tf) + 1.0) * self.idf[columns]
        norm = math.sqrt(float(values @ values))
        return columns, values / norm if norm > 0 else values


@dataclass(frozen=True)
class LocalIntentModel:
    """TF-IDF features → one linear SVM score per intent → Platt sigmoids → probabilities."""

    words: TfidfVectorizer
    chars: TfidfVectorizer
    intents: tuple[str, ...]
    weights: np.ndarray  # (intents, features): the SVM's one-vs-rest hyperplanes
    platt: np.ndarray  # (intents, 2): slope and offset of each intent's sigmoid
    version: str
    # The vectorisers and the weights laid out for scoring one text at a time.
    _features: tuple[TfidfFeatures, ...] = field(init=False, repr=False)
    _feature_weights: tuple[np.ndarray, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        words = len(self.words.vocabulary_)
        by_feature = np.ascontiguousarray(self.weights.T)  # (features, intents)
        features = (TfidfFeatures.of(self.words), TfidfFeatures.of(self.chars))
        object.__setattr__(self, "_features", features)
        object.__setattr__(self, "_feature_weights", (by_feature[:words], by_feature[words:]))

    @classmethod
    def train(
        cls, texts: Sequence[str], intents: Sequence[str], *, version: str
    ) -> LocalIntentModel:
        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode")
        chars = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(3, 5),
            min_df=2,
            sublinear_tf=True,
            strip_accents="unicode",
        )
        features = sp.hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
        labels = np.asarray(intents)
        # No intercept: a message with no known words scores 0 for every intent, so junk
        # like "asdf" gets a low confidence instead of the majority class's prior.
        svm = LinearSVC(C=1.0, fit_intercept=False, random_state=0)
        # The sigmoids are fitted on out-of-fold scores: scores of messages the SVM has not
        # seen, like the ones it will score in production.
        scores = cross_val_predict(svm, features, labels, cv=5, method="decision_function")
        svm.fit(features, labels)
        platt = [fit_platt(scores[:, k], labels == intent) for k, intent in enumerate(svm.classes_)]
        return cls(
            words=words,
            chars=chars,
            intents=tuple(svm.classes_),
            weights=svm.coef_,
            platt=np.array(platt),
            version=version,
        )

    def scores(self, text: str) -> np.ndarray:
        """The SVM's score for each intent: the text's TF-IDF features times the weights."""
        total = np.zeros(len(self.intents))
        for features, weights in zip(self._features, self._feature_weights, strict=True):
            columns, values = features.transform(text)
            total += values @ weights[columns]
        return total

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """One row of calibrated probabilities per text, columns in `self.intents` order."""
        scores = np.array([self.scores(text) for text in texts]).reshape(len(texts), -1)
        probabilities = expit(scores * self.platt[:, 0] + self.platt[:, 1])
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str]) -> list[IntentPrediction]:
        return [
            IntentPrediction(intent=self.intents[int(row.argmax())], confidence=float(row.max()))
            for row in self.predict_proba(texts)
        ]


def fit_platt(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Platt scaling: P(positive | score) = sigmoid(slope · score + offset).

    Platt's smoothed targets, (n₊ + 1)/(n₊ + 2) for positives and 1/(n₋ + 2) for
    negatives, keep the sigmoid from promising certainty it has not seen. Soft
    targets are fitted as a weighted logistic regression: each score counts once
    as a positive and once as a negative, weighted by its target.
    """
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    target = np.where(positive, (n_positive + 1) / (n_positive + 2), 1 / (n_negative + 2))
    x = np.concatenate([scores, scores])[:, np.newaxis]
    y = np.concatenate([np.ones(len(scores)), np.zeros(len(scores))])
    # A huge C: no regularisation, as in Platt's method.
    sigmoid = LogisticRegression(C=1e10, max_iter=1000)
    sigmoid.fit(x, y, sample_weight=np.concatenate([target, 1 - target]))
    return float(sigmoid.coef_[0, 0]), float(sigmoid.intercept_[0])


def read_labeled(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("text") and row.get("intent")]
    return [row["text"] for row in rows], [row["intent"] for row in rows]


_model: LocalIntentModel | None = None
_model_lock = threading.Lock()


def local_intent_model() -> LocalIntentModel:
    """The local model, trained on the shipped lead set once per process."""
    global _model
    with _model_lock:
        if _model is None:
            try:
                texts, intents = read_labeled(TRAINING_DATA)
            except OSError as exc:
                raise AppException(
                    "The intent training data is missing; reinstall data/leads/",
                    code="intent_model_unavailable",
                    status_code=503,
                ) from exc
            digest = hashlib.sha256(TRAINING_DATA.read_bytes()).hexdigest()[:12]
            _model = LocalIntentModel.train(
                texts, intents, version=f"tfidf-linearsvc-sigmoid@{digest}"
            )
        return _model


async def classify_intent(
    *, text: str, llm: LLMClient | None, settings: Settings
) -> StepOutcome[IntentPrediction]:
    """Classify with the LLM when there is one, else (or when it fails) with the local model."""

    async def local() -> StepOutcome[IntentPrediction]:
        model = local_intent_model()
        row = model.predict_proba([text])[0]
        # The raw output of the local model is the whole calibrated distribution.
        distribution = dict(zip(model.intents, row.round(6).tolist(), strict=True))
        return StepOutcome(
            value=IntentPrediction(
                intent=model.intents[int(row.argmax())], confidence=float(row.max())
            ),
            provider=LOCAL_PROVIDER,
            model=model.version,
            raw_output=json.dumps({"probabilities": distribution}),
        )

    async def with_llm() -> StepOutcome[IntentPrediction]:
        assert llm is not None
        prompt = load_prompt(PROMPTS_DIR, "classify.txt")
        result = await llm.complete_json(
            system=prompt.text,
            user=text,
            schema=IntentPrediction,
            model=settings.OPENAI_CHAT_MODEL,
        )
        return StepOutcome.from_llm(
            result, result.value, prompt_version=prompt.version, attempts=result.attempts
        )

    return await run_step("classify_intent", llm=with_llm if llm else None, local=local)
