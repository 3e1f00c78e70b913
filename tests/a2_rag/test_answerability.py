"""The answerability check: on-topic questions whose fact no document states are refused.

The 0.45 similarity threshold lets them through (they are about the company);
the local answerer then needs one passage that carries the question, and the
LLM answerer says so itself. Either way the user gets the exact refusal.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.embedding_client import LocalEmbeddingClient
from core.vector_chunks import SearchResult

from .helpers import API, REFUSAL, ask, stream_chat
from .test_llm_path import FakeOpenAI, use_llm

answering = importlib.import_module("assessments.02_rag_chatbot.answering")
answerability = importlib.import_module("assessments.02_rag_chatbot.answerability")
question_terms = importlib.import_module("assessments.02_rag_chatbot.question_terms")
refusal = importlib.import_module("assessments.02_rag_chatbot.refusal")

EMBEDDER = LocalEmbeddingClient()
ABOUT = [
    "Headcount\n\nAs of January 2025, Acme Corp employs 412 people. "
    "About one third of the workforce is fully remote.",
    "Social responsibility\n\nAcme Corp donates 1 percent of annual profit to logistics "
    "training programmes, and each employee receives two paid volunteer days per year.",
]
# On topic (staff, paid days off) and above the 0.45 threshold, but stated nowhere.
PARENTAL_LEAVE = "How many weeks of paid parental leave do Acme employees get?"
# On topic, and a name no document mentions: refused by the answerability model.
UNKNOWN_PERSON = "What is Marcus Pembroke's role at Acme?"


def chunks(*texts: str) -> list[SearchResult]:
    return [
        SearchResult(
            chunk_id=number,
            score=0.6,
            text=text,
            document_id="d",
            source="about_company.txt",
            chunk_index=number,
            metadata={},
        )
        for number, text in enumerate(texts, start=1)
    ]


async def extractive(question: str, *texts: str) -> str:
    context = answering.AnswerContext(question=question, chunks=chunks(*texts))
    return (await answering.extractive_answer(EMBEDDER, context)).value


# ---------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("cancel", "cancelled"),
        ("certification", "certifications"),
        ("user", "users"),
        ("charge", "charges"),
        ("price", "pricing"),
        ("annual", "annually"),
    ],
)
def test_terms_are_normalised_so_word_forms_meet(a: str, b: str) -> None:
    assert question_terms.content_terms(a) == question_terms.content_terms(b)


def test_stop_words_and_question_words_carry_no_weight() -> None:
    assert question_terms.content_terms("How many users does the plan have?") == ["user", "plan"]


def test_rare_terms_weigh_more_than_terms_in_every_chunk() -> None:
    stats = question_terms.TermStats.of(
        ["Acme sells plans.", "Acme has offices.", "Acme offers parental leave."]
    )

    assert stats.idf("parental") > stats.idf("acme")
    assert stats.idf("never-seen") > stats.idf("parental")


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("Who is the CEO of Northwind?", "Dana Whitaker serves as chief executive officer."),
        ("Who is Northwind's chief technology officer?", "Omar Reyes is the CTO."),
        ("Which SSO protocols are supported?", "We support single sign-on with SAML."),
    ],
)
def test_an_acronym_meets_its_spelled_out_form_in_either_direction(
    question: str, text: str
) -> None:
    assert question_terms.missing_key_terms(question, chunks(text)) in ([], ["Northwind"])
    asked = question_terms.Question.of(question)
    assert asked.found_in(question_terms.Text.of(text)), "the title is found"


@pytest.mark.parametrize(
    ("question", "text", "asked"),
    [
        (
            "Who is the CTO?",
            "Mary Lind, chief technology officer",
            "Who is the CTO (chief technology officer)?",
        ),
        (
            "Who is the chief operating officer?",
            "COO: Priya Nand. CEO: Tom Hale.",
            "Who is the chief operating officer (COO)?",
        ),
        (
            "Who handles health, safety and environment?",
            "HSE lead: Ann Cole",
            "Who handles health, safety and environment (HSE)?",
        ),
        # Written both ways already, or no acronym in the documents: left as asked.
        ("Who is the chief operating officer (COO)?", "COO: Priya", None),
        ("Who is the chief operating officer?", "Priya runs operations.", None),
    ],
)
def test_the_question_is_embedded_with_the_title_written_as_the_documents_write_it(
    question: str, text: str, asked: str | None
) -> None:
    assert question_terms.spell_out(question, text) == (asked or question)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When was the company founded?", "date"),
        ("What year did Acme open its Dublin office?", "date"),
        ("How much does the Growth plan cost per month?", "money"),
        ("How many employees does Acme have?", "number"),
        ("Who is the CFO?", "person"),
        ("Which city is the head office in?", "place"),
        ("Does Acme offer SSO?", None),
    ],
)
def test_the_question_says_what_kind_of_answer_it_wants(question: str, kind: str | None) -> None:
    assert question_terms.answer_type(question) == kind


def test_the_shipped_model_reads_the_features_it_was_trained_on() -> None:
    model = answerability.load_model()

    assert model.features == answerability.FEATURES
    assert model.embedding_model == "all-MiniLM-L6-v2"
    assert len(model.weights) == len(model.mean) == len(answerability.FEATURES)
    assert 0.0 < model.threshold < 1.0


async def assessment(question: str, *texts: str) -> answerability.Assessment:
    retrieved = chunks(*texts)
    candidates, similarities = await answering.passage_similarities(EMBEDDER, question, retrieved)
    result = answerability.assess(
        question,
        [c.passage.ranking_text for c in candidates],
        similarities,
        retrieved,
        stats=None,
        embedding_model=EMBEDDER.model,
    )
    assert result is not None
    return result


@pytest.mark.anyio
async def test_a_passage_stating_the_fact_is_more_answerable_than_one_beside_it() -> None:
    stated = await assessment("How many paid volunteer days does an employee get?", *ABOUT)
    beside = await assessment(PARENTAL_LEAVE, *ABOUT)

    # The model ranks them right; at its precision-first threshold both are answered (what
    # it cannot see: a question whose words are nearly all in one passage; README).
    assert stated.probability > beside.probability
    assert stated.answerable


def test_the_model_applies_only_to_the_embedding_model_it_was_trained_with() -> None:
    result = answerability.assess(
        "Who is the CEO?",
        ["Dana Whitaker is the CEO."],
        np.array([0.7]),
        chunks("Dana Whitaker is the CEO."),
        stats=None,
        embedding_model="text-embedding-3-small",
    )

    assert result is None


@pytest.mark.anyio
async def test_extractive_answerer_answers_a_question_whose_terms_are_covered() -> None:
    answer = await extractive("How many paid volunteer days does each Acme employee get?", *ABOUT)

    assert "two paid volunteer days per year. [2]" in answer
    assert "412" not in answer, "only the passage that answers, not its neighbours"


@pytest.mark.anyio
async def test_a_name_that_no_chunk_mentions_is_refused() -> None:
    assert await extractive("What does Victor Lang do at Acme?", *ABOUT) == REFUSAL


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("The documents do not mention Acme's net profit.", True),
        ("The provided documents don't say who the CTO is.", True),
        ("The context does not specify how many parking spaces there are.", True),
        ("Acme does not have a permanent free plan [1].", False),
        ("Payments are non-refundable after 30 days.", False),
    ],
)
def test_an_llm_refusal_in_its_own_words_is_recognised(text: str, refused: bool) -> None:
    assert refusal.is_refusal(text) is refused


# ---------------------------------------------------------------- through the API (local)


def test_on_topic_question_the_documents_do_not_answer_gets_the_exact_refusal(
    sample_client: TestClient,
) -> None:
    body = ask(sample_client, UNKNOWN_PERSON)

    assert body["answer"] == REFUSAL
    assert body["refused"] is True and body["sources"] == [] and body["confidence"] == 0.0
    assert body["refusal_reason"] == "not_supported"


def test_an_off_topic_question_is_refused_by_the_similarity_gate(
    sample_client: TestClient,
) -> None:
    body = ask(sample_client, "How do I bake sourdough bread at home?")

    assert body["answer"] == REFUSAL and body["refusal_reason"] == "below_threshold"


def test_the_same_company_question_with_its_fact_stated_is_answered(
    sample_client: TestClient,
) -> None:
    body = ask(sample_client, "How many paid volunteer days does each Acme employee get?")

    assert body["refused"] is False and "two paid volunteer days" in body["answer"]
    assert body["sources"]


def test_stream_refuses_the_same_way(sample_client: TestClient) -> None:
    _, events = stream_chat(sample_client, query=UNKNOWN_PERSON)

    done = events[-1][1]
    assert events[-1][0] == "done"
    assert done["answer"] == REFUSAL and done["refused"] is True and done["sources"] == []
    assert "".join(data["text"] for kind, data in events if kind == "token") == REFUSAL


# ---------------------------------------------------------------- the LLM decides on its path


def test_llm_prompt_says_a_related_fact_is_not_an_answer(
    llm_client: TestClient, tmp_path: Path
) -> None:
    fake = FakeOpenAI(REFUSAL)
    use_llm(llm_client, fake, tmp_path)

    body = ask(llm_client, "What was Acme's net profit in 2024?")

    [request] = fake.answer_requests()
    system = request["messages"][0]["content"]
    assert "specific fact asked for" in system and "never answer with a related fact" in system
    assert body["answer"] == REFUSAL and body["refused"] is True and body["sources"] == []


def test_llm_saying_the_documents_do_not_answer_becomes_the_exact_refusal(
    llm_client: TestClient, tmp_path: Path
) -> None:
    use_llm(
        llm_client,
        FakeOpenAI("The documents do not state Acme's net profit for 2024."),
        tmp_path,
    )

    body = ask(llm_client, "What was Acme's net profit in 2024?")

    assert body["answer"] == REFUSAL
    assert body["refused"] is True and body["sources"] == [] and body["confidence"] == 0.0
    history = llm_client.get(f"{API}/sessions/{body['session_id']}/messages").json()["data"]
    assert history[1]["content"] == REFUSAL and history[1]["refused"] is True


def test_llm_refusal_is_not_second_guessed_by_the_local_check(
    llm_client: TestClient, tmp_path: Path
) -> None:
    # The LLM reads the passages itself: the local support check does not run before it.
    fake = FakeOpenAI(REFUSAL)
    use_llm(llm_client, fake, tmp_path)

    body = ask(llm_client, PARENTAL_LEAVE)

    assert len(fake.answer_requests()) == 1
    assert body["provider"] == "openai" and body["answer"] == REFUSAL
    assert body["refusal_reason"] == "llm_refused"


def test_streamed_llm_refusal_in_its_own_words_is_reset_to_the_exact_refusal(
    llm_client: TestClient, tmp_path: Path
) -> None:
    use_llm(llm_client, FakeOpenAI("The documents do not mention parental leave."), tmp_path)

    _, events = stream_chat(llm_client, query=PARENTAL_LEAVE)

    kinds = [kind for kind, _ in events]
    assert "reset" in kinds and kinds[-1] == "done"
    after_reset = events[kinds.index("reset") + 1 : -1]
    assert "".join(data["text"] for _, data in after_reset) == REFUSAL
    done = events[-1][1]
    assert done["answer"] == REFUSAL and done["refused"] is True and done["sources"] == []


@pytest.mark.anyio
async def test_the_gates_second_look_scores_each_passage_with_its_heading_and_alone() -> None:
    retrieved = chunks(
        "# Appendix C: office moves, parking permits and canteen menu\n\n"
        "Stored files are encrypted with AES-256.",
        "# Opening hours\n\nThe office opens at 9am.",
    )
    question = "What encryption is used for stored files?"
    candidates, with_heading = await answering.passage_similarities(EMBEDDER, question, retrieved)
    alone = [
        float(vector @ await EMBEDDER.embed_query(question))
        for vector in await EMBEDDER.embed_documents([c.passage.text for c in candidates])
    ]

    best = await answering.best_passage_scores(EMBEDDER, question, retrieved)

    for chunk in retrieved:
        mine = [
            max(float(heading), bare)
            for c, heading, bare in zip(candidates, with_heading, alone, strict=True)
            if retrieved[c.number - 1].chunk_id == chunk.chunk_id
        ]
        assert best[chunk.chunk_id] == pytest.approx(max(mine), abs=1e-5)
    # Under an unrelated heading, the sentence alone is the closer reading (0.59 → 0.75).
    assert best[retrieved[0].chunk_id] > float(with_heading[0]) + 0.1
