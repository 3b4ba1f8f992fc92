"""Explain mode: a language model writes the answer from the retrieved passages, and every
sentence it writes is checked against them before it is shown.

prompting: the prompt files and how passages are numbered in them;
generate: one answer from the model, streamed, with the fallbacks a failure needs;
verify: the sentence-by-sentence check of a written answer against its cited passages.
"""
