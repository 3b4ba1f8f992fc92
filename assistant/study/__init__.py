"""Study aids: an essay map, practice questions checked against the document, flashcards and
suggested questions, kept beside the index (docs/study.md).

The facade (assistant.py) wires these modules to the index, the answerer and the language model;
front ends reach them only through it.
"""
