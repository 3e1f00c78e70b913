"""Assessment 2: the tenant-scoped RAG chatbot (README.md explains the design)."""
