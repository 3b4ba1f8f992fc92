"""HTML: the page's main text (the article, not its menus, sidebars and footer) as paragraphs.

trafilatura finds the main content and returns it as structured XML; headings, paragraphs, list
items and quotations become paragraphs, a table row one paragraph with its cells joined by " | ".
Scripts, styles and comments are dropped, never run, and nothing is kept as markup: what is left
is text. Leaves out images, links' targets, and pages built by JavaScript (their text is not in
the file).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from assistant.errors import DocumentError
from assistant.formats import Text

MAX_BYTES = 20_000_000  # as for text files

_LEAVES = {"p", "head", "item", "code"}  # blocks whose inside is inline text
_BLOCKS = _LEAVES | {"list", "table", "row", "quote", "div", "main"}


def read(source: str, raw: bytes) -> Text:
    """The main text of an HTML page; DocumentError when there is none."""
    import trafilatura
    from lxml import etree

    # It reports pages it finds little in as warnings; the caller decides what to say about that.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    xml = trafilatura.extract(
        raw, output_format="xml", include_tables=True, include_comments=False,
        include_images=False, include_links=False, include_formatting=False,
        favor_recall=True, with_metadata=False, deduplicate=False,
    )  # fmt: skip
    if not xml:
        raise DocumentError(f"{source}: no text found in the HTML page; check that it is the right file")
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    main = etree.fromstring(xml.encode("utf-8"), parser).find("main")
    blocks = list(_blocks(main)) if main is not None else []
    return Text("\n\n".join(b for b in blocks if b.strip()))


def _blocks(element) -> Iterator[str]:  # noqa: ANN001 - an lxml element of trafilatura's XML
    if element.tag == "row":
        cells = [" ".join(_inline(cell).split()) for cell in element]
        yield " | ".join(cell for cell in cells if cell)
        return
    if element.tag in _LEAVES and not any(child.tag in _BLOCKS for child in element):
        yield _inline(element)
        return
    if element.text and element.text.strip():
        yield element.text
    for child in element:
        if child.tag == "lb":
            pass
        elif child.tag in _BLOCKS:
            yield from _blocks(child)
        else:
            yield _inline(child)
        if child.tail and child.tail.strip():
            yield child.tail


def _inline(element) -> str:  # noqa: ANN001
    parts = [element.text or ""]
    for child in element:
        parts.append("\n" if child.tag == "lb" else _inline(child))
        parts.append(child.tail or "")
    return "".join(parts)
