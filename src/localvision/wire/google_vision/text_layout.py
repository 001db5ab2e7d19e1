"""Text lines → Google's ``textAnnotations`` and ``fullTextAnnotation``.

localvision's OCR gives lines of words in reading order, each with a quadrilateral. Google
answers with the whole text plus one entry per word (``textAnnotations``), and with a
page → block → paragraph → word → symbol tree (``fullTextAnnotation``) whose symbols carry the
break that follows them. This module builds that tree: lines that follow each other closely and
overlap horizontally form one paragraph, and each paragraph one block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...types import AnnotateResult, TextLine, TextWord
from .. import geometry
from .vertices import bounds_vertices, quad_vertices

__all__ = ["text_annotations"]

_BLOCK_TEXT = ("TEXT", 1)
_BREAKS = {"SPACE": 1, "EOL_SURE_SPACE": 3, "LINE_BREAK": 5}


def text_annotations(
    result: AnnotateResult, *, int_enums: bool, confidence: bool
) -> dict[str, Any]:
    """``textAnnotations`` (the whole text, then each word) and ``fullTextAnnotation``.

    Lines that follow each other closely and overlap horizontally form one paragraph, and each
    paragraph one block. Symbols carry their text and the break after them; their own boxes are
    not estimated, so they have none.
    """
    lines = result.text or []
    full_text = "".join(line.text + "\n" for line in lines)
    words = [word for line in lines for word in line.words]
    every = [point for word in words for point in word.box] or [
        point for line in lines for point in line.box
    ]
    entries: list[dict[str, Any]] = [
        {"description": full_text, "boundingPoly": {"vertices": bounds_vertices(every)}}
    ]
    entries += [
        {"description": word.text, "boundingPoly": {"vertices": quad_vertices(word.box)}}
        for word in words
    ]
    blocks = [_block(paragraph, int_enums, confidence) for paragraph in _paragraphs(lines)]
    page: dict[str, Any] = {
        "width": result.width or 0,
        "height": result.height or 0,
        "blocks": blocks,
    }
    if confidence and lines:
        page["confidence"] = float(np.mean([line.confidence for line in lines]))
    return {
        "textAnnotations": entries,
        "fullTextAnnotation": {"pages": [page], "text": full_text},
    }


def _block(paragraph: Sequence[TextLine], int_enums: bool, confidence: bool) -> dict[str, Any]:
    """One block holding one paragraph of ``paragraph``'s lines."""
    paragraph_words = []
    for line_index, line in enumerate(paragraph):
        last_line = line_index == len(paragraph) - 1
        for word_index, word in enumerate(line.words):
            last_word = word_index == len(line.words) - 1
            # A break after each word: a space inside the line, then a line break.
            kind = "SPACE" if not last_word else ("LINE_BREAK" if last_line else "EOL_SURE_SPACE")
            paragraph_words.append(_word(word, kind, int_enums, confidence))
    points = [p for line in paragraph for p in line.box]
    block_paragraph: dict[str, Any] = {
        "boundingBox": {"vertices": bounds_vertices(points)},
        "words": paragraph_words,
    }
    block: dict[str, Any] = {
        "boundingBox": {"vertices": bounds_vertices(points)},
        "paragraphs": [block_paragraph],
        "blockType": _BLOCK_TEXT[1] if int_enums else _BLOCK_TEXT[0],
    }
    if confidence:
        score = float(np.mean([line.confidence for line in paragraph]))
        block_paragraph["confidence"] = score
        block["confidence"] = score
    return block


def _word(word: TextWord, last_break: str, int_enums: bool, confidence: bool) -> dict[str, Any]:
    symbols = []
    for index, char in enumerate(word.text):
        symbol: dict[str, Any] = {"text": char}
        if index == len(word.text) - 1:
            kind: Any = _BREAKS[last_break] if int_enums else last_break
            symbol["property"] = {"detectedBreak": {"type": kind}}
        if confidence:
            symbol["confidence"] = word.confidence
        symbols.append(symbol)
    entry: dict[str, Any] = {
        "boundingBox": {"vertices": quad_vertices(word.box)},
        "symbols": symbols,
    }
    if confidence:
        entry["confidence"] = word.confidence
    return entry


def _paragraphs(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Group consecutive lines that are close below each other and overlap horizontally."""
    groups: list[list[TextLine]] = []
    for line in lines:
        if groups and _continues(groups[-1][-1], line):
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


def _continues(above: TextLine, below: TextLine) -> bool:
    """Whether ``below`` continues ``above``'s paragraph: its top is at most 0.8 of a line
    height under ``above`` (or up to half a line into it) and the two overlap horizontally."""
    a_left, a_top, a_right, a_bottom = geometry.bounds(above.box)
    b_left, b_top, b_right, _ = geometry.bounds(below.box)
    height = a_bottom - a_top
    gap = b_top - a_bottom
    overlap = min(a_right, b_right) - max(a_left, b_left)
    return -0.5 * height <= gap <= 0.8 * height and overlap > 0
