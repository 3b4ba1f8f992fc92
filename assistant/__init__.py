"""Study Assistant: answers questions about an essay and cites the passages it rests on.

The pipeline, one module a stage: ingest -> index -> retrieval -> answer (-> generate, verify),
wired together in `assistant.assistant.Assistant`; cli, ui and api are thin front ends over it.
"""

__version__ = "0.1.0"
