"""Labelled image sets: a folder per class, or a CSV of ``file,label`` rows (``cat;dog`` in
the label column makes the set multi-label).

Files that are missing or unreadable are skipped and listed, never fatal mid-run; exact
duplicates across the train/validation split are found by content hash; classes with few
images get a warning.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError, InvalidParameterError
from ..imaging.inputs import IMAGE_SUFFIXES

__all__ = ["Dataset", "Sample", "find_duplicates", "load_dataset", "split"]

FEW_IMAGES = 5


@dataclass(frozen=True)
class Sample:
    """One image and its label; ``extra`` holds further labels of a multi-label image."""

    path: Path
    label: str
    extra: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.extra)


@dataclass
class Dataset:
    """Samples with their class names; ``skipped`` lists (path, reason) left out."""

    samples: list[Sample]
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(label for s in self.samples for label in s.labels)
        return {c: counts.get(c, 0) for c in self.classes}

    @property
    def multi_label(self) -> bool:
        """True when some image carries more than one label (CSV ``cat;dog``)."""
        return any(s.extra for s in self.samples)

    def warnings(self) -> list[str]:
        return [
            f"class {label!r} has only {count} image{'s' if count != 1 else ''}"
            for label, count in self.counts.items()
            if count < FEW_IMAGES
        ]

    def fingerprint(self) -> str:
        """A hash of the (file name, label, size) list: same data, same fingerprint."""
        digest = hashlib.sha256()
        for sample in sorted(self.samples, key=lambda s: (s.label, s.path.name)):
            size = sample.path.stat().st_size if sample.path.exists() else -1
            digest.update(f"{sample.label}\0{sample.path.name}\0{size}\n".encode())
        return digest.hexdigest()


def load_dataset(source: Path, *, csv_file: Path | None = None) -> Dataset:
    """A folder tree (``source/<class>/<images>``) or, with ``csv_file``, a CSV listing."""
    if csv_file is not None:
        return _from_csv(csv_file)
    if not source.is_dir():
        raise InvalidInputError(
            f"{source} is not a folder.", hint="Pass a folder with one sub-folder per class."
        )
    samples: list[Sample] = []
    classes = sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    for label in classes:
        for path in sorted((source / label).rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(path, label))
    if not samples:
        raise InvalidInputError(
            f"No images found under {source}.",
            hint="Lay images out as FOLDER/<class name>/<image>, or pass --csv FILE.",
        )
    classes = sorted({s.label for s in samples})
    return Dataset(samples, classes)


def _from_csv(path: Path) -> Dataset:
    if not path.is_file():
        raise InvalidInputError(f"CSV file {path} does not exist.")
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for number, row in enumerate(csv.reader(fh), 1):
            if not row or (number == 1 and row[0].strip().lower() in ("file", "path", "image")):
                continue
            if len(row) < 2 or not row[1].strip():
                raise InvalidParameterError(f"{path} line {number}: expected file,label.")
            file = Path(row[0].strip())
            file = file if file.is_absolute() else path.parent / file
            if not file.is_file():
                skipped.append((str(file), "missing"))
                continue
            labels = [part.strip() for part in row[1].split(";") if part.strip()]
            samples.append(Sample(file, labels[0], tuple(dict.fromkeys(labels[1:]))))
    if not samples:
        raise InvalidInputError(f"{path} lists no existing image files.")
    classes = sorted({label for s in samples for label in s.labels})
    return Dataset(samples, classes, skipped)


def split(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A validation split of about ``fraction`` of each class, the rest for training."""
    if not 0 < fraction < 1:
        raise InvalidParameterError(f"The validation fraction must be in (0, 1); got {fraction}.")
    by_class: dict[str, list[Sample]] = defaultdict(list)
    for sample in dataset.samples:
        by_class[sample.label].append(sample)
    rng = random.Random(seed)
    train: list[Sample] = []
    validation: list[Sample] = []
    for label in dataset.classes:
        items = sorted(by_class[label], key=lambda s: str(s.path))
        rng.shuffle(items)
        held = max(1, round(len(items) * fraction)) if len(items) > 1 else 0
        validation += items[:held]
        train += items[held:]
    return (
        Dataset(train, dataset.classes, list(dataset.skipped)),
        Dataset(validation, dataset.classes),
    )


def find_duplicates(first: Dataset, second: Dataset) -> list[tuple[str, str]]:
    """Pairs of files with identical bytes, one in each dataset."""
    seen: dict[str, str] = {}
    for sample in first.samples:
        seen.setdefault(_sha(sample.path), str(sample.path))
    return [
        (seen[digest], str(sample.path))
        for sample in second.samples
        if (digest := _sha(sample.path)) in seen
    ]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
