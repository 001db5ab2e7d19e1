"""The base of settings sections whose validators check one setting against another.

Such checks raise :class:`~localvision.errors.ConfigError` with a message written for the user;
pydantic wraps it in a ``ValidationError``. Built in code, a section raises the ConfigError
itself; read from a file, :meth:`~localvision.config.Settings.load` keeps its message.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import ConfigError

__all__ = ["Checked", "failed_check", "message_of"]


class Checked(BaseModel):
    """Base of the sections whose validators check one setting against another: built
    directly in code (``RouterSettings(routes=...)``), such a section raises the check's
    ConfigError itself, with its own message, as :meth:`Settings.load` does."""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            found = failed_check(exc)
            if found is None:
                raise
            raise found from exc


def failed_check(exc: ValidationError) -> ConfigError | None:
    """The ConfigError a settings check raised, when it is all that is wrong in ``exc``."""
    errors = exc.errors()
    if len(errors) != 1:
        return None
    found = errors[0].get("ctx", {}).get("error")
    return found if isinstance(found, ConfigError) else None


def message_of(error: ErrorDetails) -> str:
    """An error's text: a settings check's own message, else pydantic's."""
    found = error.get("ctx", {}).get("error")
    return found.message if isinstance(found, ConfigError) else str(error["msg"])
