"""The RAG chatbot's evaluations and the answerability trainer: scripts run by hand, apart
from the runtime modules they measure."""
