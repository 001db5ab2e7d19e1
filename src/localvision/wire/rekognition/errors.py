"""Rekognition's modelled errors ⇄ localvision's errors, in both directions.

Rekognition answers a failure with an HTTP status and a ``{"__type", "message"}`` body; botocore
turns ``__type`` into its modelled exception classes
(``client.exceptions.InvalidImageFormatException``...), so the names are the contract. The
server renders our errors that way (:func:`error_response`); the AWS provider turns the codes it
gets back into ours (:func:`error_from_aws`).
"""

from __future__ import annotations

from typing import Any

from ...errors import (
    AuthenticationError,
    FeatureNotAvailableError,
    ImageError,
    ImageTooLargeError,
    InvalidInputError,
    InvalidParameterError,
    LocalVisionError,
    OverloadedError,
    ProviderError,
    ServerUnavailableError,
    StorageError,
)

__all__ = [
    "InvalidImageFormatError",
    "SerializationError",
    "UnknownOperationError",
    "error_from_aws",
    "error_response",
]


class UnknownOperationError(InvalidInputError):
    """The ``X-Amz-Target`` names no operation this server answers."""

    code = "unknown_operation"


class SerializationError(InvalidInputError):
    """The body is not the JSON object the operation expects."""

    code = "serialization"


class InvalidImageFormatError(ImageError):
    """Rekognition takes PNG and JPEG only."""

    code = "invalid_image_format"


# Our errors to Rekognition's modelled ones, first match along the MRO wins: (type, HTTP).
_AWS_ERRORS: tuple[tuple[type[LocalVisionError], str, int], ...] = (
    (UnknownOperationError, "UnknownOperationException", 400),
    (SerializationError, "SerializationException", 400),
    (ImageTooLargeError, "ImageTooLargeException", 400),
    (ImageError, "InvalidImageFormatException", 400),
    (InvalidInputError, "InvalidParameterException", 400),
    (FeatureNotAvailableError, "AccessDeniedException", 400),
    # Image.S3Object that cannot be read: no such object, denied, outside [storage] allow, or
    # the store unreachable. Rekognition answers all of them this way ("Unable to get object
    # metadata from S3"); the message says which it was.
    (StorageError, "InvalidS3ObjectException", 400),
    (ServerUnavailableError, "ServiceUnavailableException", 503),  # cut off by shutdown
    (OverloadedError, "ThrottlingException", 400),  # as Rekognition answers it
)
_AUTH_TYPES = {
    "invalid_signature": ("InvalidSignatureException", 403),
    "expired_signature": ("InvalidSignatureException", 403),
    "missing_authentication": ("MissingAuthenticationTokenException", 403),
}

# AWS error codes to ours (the client direction); others are provider errors.
_FROM_AWS: dict[str, type[LocalVisionError]] = {
    "InvalidImageFormatException": ImageError,
    "ImageTooLargeException": ImageTooLargeError,
    "InvalidParameterException": InvalidParameterError,
    "AccessDeniedException": AuthenticationError,
    "UnrecognizedClientException": AuthenticationError,
    "InvalidSignatureException": AuthenticationError,
    "ThrottlingException": OverloadedError,
    "ProvisionedThroughputExceededException": OverloadedError,
}


def error_response(error: BaseException) -> tuple[int, str, dict[str, Any]]:
    """HTTP status, ``__type`` and body for an error, in Rekognition's error format."""
    if isinstance(error, AuthenticationError):
        name, status = _AUTH_TYPES.get(error.code, ("UnrecognizedClientException", 400))
    else:
        name, status = "InternalServerError", 500
        for cls, aws_name, aws_status in _AWS_ERRORS:
            if isinstance(error, cls):
                name, status = aws_name, aws_status
                break
    if isinstance(error, LocalVisionError):
        message = error.message + (f" {error.hint}" if error.hint else "")
    else:
        message = "Internal server error."
    return status, name, {"__type": name, "Code": name, "message": message}


def error_from_aws(code: str, message: str) -> LocalVisionError:
    """Our error for an AWS error code, the vendor's message kept."""
    return _FROM_AWS.get(code, ProviderError)(f"AWS Rekognition {code}: {message}")
