from __future__ import annotations

import pytest

from localvision import errors


@pytest.mark.parametrize(
    ("cls", "status", "builtin"),
    [
        (errors.ImageDecodeError, 400, ValueError),
        (errors.ImageTooLargeError, 413, ValueError),
        (errors.ImageNotFoundError, 404, FileNotFoundError),
        (errors.ModelNotFoundError, 404, FileNotFoundError),
        (errors.UnsupportedModelFormatError, 400, ValueError),
        (errors.UnsafeModelError, 403, PermissionError),
        (errors.ModelCardError, 400, ValueError),
        (errors.FeatureNotAvailableError, 501, NotImplementedError),
        (errors.MissingDependencyError, 500, ImportError),
        (errors.ModelConversionError, 500, errors.ModelError),
    ],
)
def test_each_error_knows_its_status_and_builtin(cls: type, status: int, builtin: type) -> None:
    error = cls("what went wrong", hint="do this")
    assert isinstance(error, errors.LocalVisionError)
    assert isinstance(error, builtin)
    assert error.status == status
    assert errors.http_status(error) == status


def test_message_and_hint_are_kept_apart_and_joined_in_str() -> None:
    error = errors.ImageDecodeError("Image x.jpg is corrupt.", hint="Re-export it.")
    assert error.message == "Image x.jpg is corrupt."
    assert error.hint == "Re-export it."
    assert str(error) == "Image x.jpg is corrupt. Re-export it."


def test_foreign_exceptions_map_to_500() -> None:
    assert errors.http_status(RuntimeError("boom")) == 500


def test_codes_are_unique_per_class() -> None:
    classes = [getattr(errors, name) for name in errors.__all__ if name[0].isupper()]
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))
