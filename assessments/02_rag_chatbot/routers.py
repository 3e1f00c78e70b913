"""HTTP routes of this assessment (mounted by backend.main under its SPEC prefix)."""

from fastapi import APIRouter

router = APIRouter(tags=["Assessment 2 · RAG chatbot"])
