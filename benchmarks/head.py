"""Benchmark: held-out accuracy of the training head on real photos, old head against new.

Uses ``../shared/fixtures/datasets/tf_flowers_mini`` (5 classes x 30 real photos) and the int8
MobileNet V2 fixture as the backbone, features extracted once by the same code ``train`` uses.
For each split, each class's photos are ordered (split 0: by file name, "first by name"; split
``s``: shuffled with seed ``s``), the last 10 are the test set and the first ``shots`` train
the head. Heads compared on the very same features:

* ``new``: :class:`localvision.training.head.HeadTrainer` as ``train`` uses it (logistic
  regression, C by cross-validation, refitted on every image); ``new-mlp`` with ``--mlp``;
* ``old``: the head before it (``--old-head FILE``, e.g. from ``git show
  eb0eaea:src/localvision/training/head.py > /tmp/old_head.py``), run the way the old
  ``train`` ran it: 20 % of the training images held out for early stopping;
* ``sklearn-lr``: ``LogisticRegression()`` on the raw features, for reference.

Split 0 is also trained end to end with ``train`` and the registered model evaluated on the
test photos, which must give the same accuracy as the head on cached features.

Prints a table and writes JSON (``--out``, default ``benchmarks/results/head.json``).

    python benchmarks/head.py --old-head /tmp/old_head.py [--splits 10] [--mlp]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, write_report
from rich.console import Console
from rich.table import Table

from localvision.api import resolve_model
from localvision.config import Settings
from localvision.metrics.evaluation import evaluate
from localvision.registry import Registry
from localvision.training.dataset import Dataset, Sample, load_dataset, split
from localvision.training.head import HeadTrainer
from localvision.training.train import open_backbone, train

ROOT = Path(__file__).resolve().parents[1]
TEST_PER_CLASS = 10
Array = np.ndarray[Any, Any]
Fit = Callable[[list[Sample], Array, Array, int], Callable[[Array], Array]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "head.json")
    parser.add_argument("--old-head", type=Path, help="the previous head.py, to compare with")
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--mlp", action="store_true", help="also the MLP head (slower)")
    args = parser.parse_args(argv)
    dataset_dir = args.fixtures / "datasets" / "tf_flowers_mini"
    models = args.fixtures / "models"
    if not dataset_dir.is_dir() or not models.is_dir():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    data = load_dataset(dataset_dir)
    heads: dict[str, Fit] = {"new": new_head(0)}
    if args.mlp:
        heads["new-mlp"] = new_head(128)
    if args.old_head:
        heads["old"] = old_head(args.old_head)
    heads["sklearn-lr"] = reference_head
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home")
        Registry(settings.home).add(
            "mobilenet",
            models / "mobilenetv2-12-int8.onnx",
            format_name="onnx",
            card={"labels": (models / "imagenet_labels_1000.txt").read_text().splitlines()},
        )
        vectors = features(settings, data)
        rows: list[dict[str, Any]] = []
        for shots in args.shots:
            for number in range(args.splits):
                train_part, test_part = make_split(data, number, shots)
                x, y = arrays(data, train_part, vectors)
                xt, yt = arrays(data, test_part, vectors)
                for name, fit in heads.items():
                    start = time.perf_counter()
                    predict = fit(train_part, x, y, len(data.classes))
                    seconds = time.perf_counter() - start
                    accuracy = float((predict(xt).argmax(1) == yt).mean())
                    rows.append(
                        {"head": name, "shots": shots, "split": number, "accuracy": accuracy}
                        | {"fit_s": seconds}
                    )
        end_to_end = {
            shots: end_to_end_accuracy(settings, data, shots, Path(tmp)) for shots in args.shots
        }
    summary = summarise(rows, heads, args.shots)
    for shots, (accuracy, val) in end_to_end.items():
        summary[f"new/{shots}"]["end_to_end_split0"] = accuracy
        summary[f"new/{shots}"]["end_to_end_val_accuracy"] = val
    print_table(summary, args.splits)
    write_report(
        {
            "machine": machine(),
            "dataset": "tf_flowers_mini (5 classes x 30 photos), test = 10 photos a class",
            "backbone": "mobilenetv2-12-int8.onnx",
            "splits": args.splits,
            "summary": summary,
            "runs": rows,
        },
        args.out,
    )
    return 0


def new_head(hidden: int) -> Fit:
    def fit(_: list[Sample], x: Array, y: Array, classes: int) -> Callable[[Array], Array]:
        return HeadTrainer(hidden=hidden).fit(x, y, classes).predict_proba

    return fit


def old_head(path: Path) -> Fit:
    """The previous HeadTrainer, with the old ``train``'s 80/20 split for early stopping."""
    spec = importlib.util.spec_from_file_location("old_head", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def fit(samples: list[Sample], x: Array, y: Array, classes: int) -> Callable[[Array], Array]:
        labels = sorted({s.label for s in samples})
        kept, held = split(Dataset(list(samples), labels), 0.2, 0)  # as train() did, seed 0
        row = {s.path: i for i, s in enumerate(samples)}
        first = [row[s.path] for s in kept.samples]
        second = [row[s.path] for s in held.samples]
        head = module.HeadTrainer(hidden=0, epochs=300, seed=0)
        head.fit(x[first], y[first], x[second], y[second], classes=classes)
        return head.predict_proba  # type: ignore[no-any-return]

    return fit


def reference_head(_: list[Sample], x: Array, y: Array, classes: int) -> Callable[[Array], Array]:
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(max_iter=5000).fit(x, y)
    return model.predict_proba  # type: ignore[no-any-return]


def features(settings: Settings, data: Dataset) -> dict[Path, Array]:
    model = resolve_model("mobilenet", settings)
    backbone = open_backbone(model, "mobilenet", settings)
    vectors, skipped, _ = backbone.extractor(settings).extract([s.path for s in data.samples])
    assert not skipped, skipped
    backbone.runtime.close()
    model.close()
    return vectors


def make_split(data: Dataset, number: int, shots: int) -> tuple[list[Sample], list[Sample]]:
    train_part: list[Sample] = []
    test_part: list[Sample] = []
    for label in data.classes:
        ordered = sorted((s for s in data.samples if s.label == label), key=lambda s: s.path.name)
        if number:
            order = np.random.default_rng(number).permutation(len(ordered))
            ordered = [ordered[i] for i in order]
        test_part += ordered[-TEST_PER_CLASS:]
        train_part += ordered[:shots]
    return train_part, test_part


def arrays(data: Dataset, samples: list[Sample], vectors: dict[Path, Array]) -> tuple[Array, Array]:
    x = np.stack([vectors[s.path] for s in samples])
    return x, np.array([data.classes.index(s.label) for s in samples])


def end_to_end_accuracy(
    settings: Settings, data: Dataset, shots: int, tmp: Path
) -> tuple[float, float]:
    """Split 0 through ``train`` and ``evaluate``: (held-out accuracy, val_accuracy)."""
    train_part, test_part = make_split(data, 0, shots)
    for part, samples in (("train", train_part), ("test", test_part)):
        for sample in samples:
            target = tmp / f"split0-{shots}" / part / sample.label / sample.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(sample.path, target)
    root = tmp / f"split0-{shots}"
    data_dir = load_dataset(root / "train")
    result = train(data_dir, base="mobilenet", name="flowers", settings=settings)
    model = resolve_model(result.entry.ref, settings)
    evaluation = evaluate(model, load_dataset(root / "test"))
    model.close()
    return evaluation.accuracy, float(result.metrics["val_accuracy"])


def summarise(
    rows: list[dict[str, Any]], heads: dict[str, Fit], shots: list[int]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for count in shots:
        for name in heads:
            mine = [r for r in rows if r["head"] == name and r["shots"] == count]
            accuracies = [r["accuracy"] for r in mine]
            out[f"{name}/{count}"] = {
                "head": name,
                "shots": count,
                "mean": statistics.fmean(accuracies),
                "sd": statistics.pstdev(accuracies),
                "min": min(accuracies),
                "max": max(accuracies),
                "split0": next(r["accuracy"] for r in mine if r["split"] == 0),
                "median_fit_s": statistics.median(r["fit_s"] for r in mine),
            }
    return out


def print_table(summary: dict[str, dict[str, Any]], splits: int) -> None:
    table = Table(
        "head",
        "train images a class",
        f"mean ± sd over {splits} splits",
        "min–max",
        "split 0 (first by name)",
        "fit s (median)",
        title="held-out accuracy on tf_flowers_mini (10 test photos a class)",
    )
    for row in summary.values():
        first = f"{row['split0']:.2f}"
        if "end_to_end_split0" in row:
            first += (
                f" (end to end {row['end_to_end_split0']:.2f},"
                f" val {row['end_to_end_val_accuracy']:.2f})"
            )
        table.add_row(
            row["head"],
            str(row["shots"]),
            f"{row['mean']:.3f} ± {row['sd']:.3f}",
            f"{row['min']:.2f}–{row['max']:.2f}",
            first,
            f"{row['median_fit_s']:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
