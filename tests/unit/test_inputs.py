from __future__ import annotations

from pathlib import Path

from localvision.imaging.inputs import expand_image_paths


def test_folders_expand_to_sorted_images_skipping_other_and_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b.jpg", "a.PNG", "notes.txt", "sub/c.webp", ".hidden/d.jpg"):
        (tmp_path / name).write_bytes(b"x")
    assert expand_image_paths([str(tmp_path)]) == [
        str(tmp_path / "a.PNG"),
        str(tmp_path / "b.jpg"),
        str(tmp_path / "sub" / "c.webp"),
    ]


def test_explicit_files_are_kept_even_without_an_image_suffix(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes(b"x")
    assert expand_image_paths([str(tmp_path / "notes.txt")]) == [str(tmp_path / "notes.txt")]


def test_globs_expand_and_unmatched_ones_are_kept_to_be_reported(tmp_path: Path) -> None:
    for name in ("1.jpg", "2.jpg", "3.png"):
        (tmp_path / name).write_bytes(b"x")
    assert expand_image_paths([str(tmp_path / "*.jpg")]) == [
        str(tmp_path / "1.jpg"),
        str(tmp_path / "2.jpg"),
    ]
    missing = str(tmp_path / "*.gif")
    assert expand_image_paths([missing, "nope.jpg"]) == [missing, "nope.jpg"]
