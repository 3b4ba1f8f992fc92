"""Choosing and wording an answer from retrieved passages, without a language model.

extractive: the sentences that answer a question, rendered with [n] markers, or a refusal;
parts: questions about the document's own parts (thesis, summary, a paragraph, a page);
followup: follow-up questions and the conversation they lean on.
"""
