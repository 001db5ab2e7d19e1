"""Deciding, on this machine, whether an image is too private to send anywhere.

The router asks before any cloud route: an image is private when the caller says so, when its
EXIF carries a GPS position, when the local face detector finds a face, or when local OCR reads
personal data in it (e-mail addresses, phone numbers, card numbers that pass the Luhn check,
IBANs that pass their mod-97 check, or the user's own patterns). A check that cannot run (its
model is missing, the image does not decode) counts as private: the pre-check fails closed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from ..annotator import Annotator
from ..config import PRIVACY_CHECKS as CHECKS
from ..imaging.decode import read_source
from ..types import AnnotateRequest, Feature, FeatureRequest, TextLine

__all__ = [
    "PrivacyCheck",
    "find_personal_data",
    "has_gps",
    "iban_valid",
    "luhn_valid",
    "reading_order",
]

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w])\+?\d[\d ()./-]{7,}\d(?![\w])")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum that every payment card number passes."""
    numbers = [int(c) for c in digits if c.isdigit()]
    if len(numbers) < 13:
        return False
    total = 0
    for position, value in enumerate(reversed(numbers)):
        if position % 2 == 1:
            value *= 2
            value -= 9 if value > 9 else 0
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _iban_prefix(text: str) -> bool:
    """Whether ``text`` starts with a valid IBAN: the pattern is greedy and may run on into a
    following word ("... 7654 32 TODAY"), so every length an IBAN can have is tried."""
    compact = text.replace(" ", "")
    return any(iban_valid(compact[:length]) for length in range(15, min(34, len(compact)) + 1))


def find_personal_data(text: str, patterns: Sequence[re.Pattern[str]] = ()) -> list[str]:
    """The kinds of personal data found in ``text`` (``email``, ``card``, ``iban``,
    ``phone``, or ``pattern``), each at most once, in that order."""
    found: list[str] = []
    if _EMAIL.search(text):
        found.append("email")
    cards = [m for m in _CARD.finditer(text) if luhn_valid(m.group())]
    if cards:
        found.append("card")
    upper = text.upper()
    ibans = [m for m in _IBAN.finditer(upper) if _iban_prefix(m.group())]
    if ibans:
        found.append("iban")
    rest = upper
    for match in cards + ibans:  # their digit groups are not phone numbers as well
        rest = rest[: match.start()] + " " * len(match.group()) + rest[match.end() :]
    phones = (m.group() for m in _PHONE.finditer(rest))
    if any(7 <= sum(c.isdigit() for c in p) <= 15 for p in phones):
        found.append("phone")
    if any(p.search(text) for p in patterns):
        found.append("pattern")
    return found


def reading_order(lines: Sequence[TextLine]) -> str:
    """OCR lines as text, lines that share a row joined by spaces.

    Detectors often split one printed line into pieces at wide gaps (a card number's digit
    groups come back as four "lines"); personal data must be looked for across them.
    """
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda item: min(y for _, y in item.box)):
        top, bottom = min(y for _, y in line.box), max(y for _, y in line.box)
        middle = (top + bottom) / 2
        if rows:
            last = rows[-1][-1]
            last_top, last_bottom = min(y for _, y in last.box), max(y for _, y in last.box)
            if last_top <= middle <= last_bottom:
                rows[-1].append(line)
                continue
        rows.append([line])
    return "\n".join(
        " ".join(item.text for item in sorted(row, key=lambda item: min(x for x, _ in item.box)))
        for row in rows
    )


def has_gps(data: bytes) -> bool:
    """Whether the encoded image's EXIF holds a GPS block with anything in it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(image.getexif().get_ifd(0x8825))
    except Exception:  # unreadable EXIF carries no position we could find
        return False


@dataclass
class PrivacyCheck:
    """Runs the configured checks; :meth:`reasons` is empty when an image may leave."""

    local: Annotator
    checks: frozenset[str] = CHECKS
    patterns: list[re.Pattern[str]] = field(default_factory=list)

    def reasons(self, request: AnnotateRequest, *, caller_private: bool = False) -> list[str]:
        """Why ``request`` must stay on this machine (empty: it may leave).

        Checks run cheapest first and stop at the first that finds something.
        """
        reasons: list[str] = []
        if "caller" in self.checks and caller_private:
            return ["caller"]
        try:
            data = read_source(request.image)
        except Exception:
            return ["unreadable"]
        if "gps" in self.checks and data is not None and has_gps(data):
            return ["gps"]
        # Cheapest first, stopping at the first reason: one is enough to keep the image here,
        # and OCR (hundreds of milliseconds) is skipped when a face already decided it.
        for feature in (Feature.FACES, Feature.TEXT):
            if reasons or feature.value not in self.checks:
                continue
            (seen,) = self.local.annotate(
                [AnnotateRequest(request.image, [FeatureRequest(feature)], request.name)]
            )
            if feature is Feature.FACES:
                if seen.faces is None:
                    reasons.append("faces-unchecked")
                elif seen.faces:
                    reasons.append("faces")
            elif seen.text is None:
                reasons.append("text-unchecked")
            else:
                found = find_personal_data(reading_order(seen.text), self.patterns)
                reasons.extend(f"text:{kind}" for kind in found)
        return reasons
