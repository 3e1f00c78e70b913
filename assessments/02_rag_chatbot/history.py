"""The conversation: a session's messages, read before a turn and stored after it.

A session belongs to the company of its first message; asked for under another company
it answers 404, as an unknown session does.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.exceptions import NotFoundException

from .answering import Turn
from .models import ChatMessage
from .schemas import ChatResponse, MessagePublic, MessagesPublic

HISTORY_MESSAGES = 6


def recent_turns(session: Session, *, session_id: str, company_id: str) -> list[Turn]:
    """The session's last messages, oldest first; a session belongs to one company."""
    recent = session.exec(
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id)
        .order_by(col(ChatMessage.id).desc())
        .limit(HISTORY_MESSAGES)
    ).all()
    # Every message of a session has its company (checked here before each turn is stored).
    if recent and recent[0].company_id != company_id:
        # 404, not 409: another company's session is not this company's business.
        raise NotFoundException(f"Session '{session_id}' not found for company '{company_id}'")
    return [Turn(role=m.role, content=m.search_query or m.content) for m in reversed(recent)]


def save_exchange(
    session: Session, *, question: str, search_query: str, response: ChatResponse
) -> None:
    """Store the user's question and the assistant's answer as the session's next messages."""
    session.add(
        ChatMessage(
            session_id=response.session_id,
            company_id=response.company_id,
            role="user",
            content=question,
            search_query=search_query if search_query != question else None,
        )
    )
    session.add(
        ChatMessage(
            session_id=response.session_id,
            company_id=response.company_id,
            role="assistant",
            content=response.answer,
            sources=[source.model_dump() for source in response.sources],
            confidence=response.confidence,
            refused=response.refused,
            provider=response.provider,
            model=response.model,
        )
    )
    session.commit()


def read_messages(
    session: Session, session_id: str, company_id: str | None = None
) -> MessagesPublic:
    messages = session.exec(
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id)
        .order_by(col(ChatMessage.created_at), col(ChatMessage.id))
    ).all()
    if not messages or (company_id is not None and messages[0].company_id != company_id):
        raise NotFoundException(f"Session '{session_id}' not found")
    data = [MessagePublic.model_validate(message, from_attributes=True) for message in messages]
    return MessagesPublic(
        session_id=session_id, company_id=messages[0].company_id, data=data, count=len(data)
    )
