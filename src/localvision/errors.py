"""The one error hierarchy of localvision.

Every error localvision raises on purpose derives from :class:`LocalVisionError`. Each class
knows the HTTP status it stands for (``status``), a stable machine-readable ``code``, and may
carry a ``hint``: the one thing the user should do next. Wire adapters render these in their
protocol's own error format; the CLI prints ``message`` and ``hint`` on one line.

Where a built-in exception means the same thing, the class inherits it too, so callers that
already catch ``FileNotFoundError`` or ``ValueError`` keep working::

    LocalVisionError
    ├── InvalidInputError (ValueError)                      400
    │   ├── InvalidParameterError                           400
    │   ├── ImageError                                      400
    │   │   ├── ImageDecodeError                            400
    │   │   ├── UnsupportedImageFormatError                 400
    │   │   ├── ImageTooLargeError                          413
    │   │   └── ImageFetchError                             400
    │   ├── ImageNotFoundError (FileNotFoundError)          404
    │   └── RequestTooLargeError                            413
    ├── ModelError                                          500
    │   ├── ModelNotFoundError (FileNotFoundError)          404
    │   ├── UnsupportedModelFormatError (ValueError)        400
    │   ├── UnsafeModelError (PermissionError)              403
    │   ├── ModelCardError (ValueError)                     400
    │   ├── ModelConversionError                            500
    │   └── InferenceError                                  500
    ├── FeatureNotAvailableError (NotImplementedError)      501
    ├── AuthenticationError (PermissionError)               401
    ├── EgressDeniedError (PermissionError)                 403
    ├── ProviderError                                       502
    ├── OverloadedError                                     503
    │   └── ServerUnavailableError                          503
    ├── RequestTimeoutError (TimeoutError)                  504
    ├── MissingDependencyError (ImportError)                500
    ├── RegistryError                                       500
    │   └── AliasMovedError                                 409
    ├── RayUnavailableError (ConnectionError)               503
    ├── StorageError                                        502
    │   ├── StorageNotFoundError (FileNotFoundError)        404
    │   ├── StorageAccessDeniedError (PermissionError)      403
    │   ├── StorageUnavailableError (ConnectionError)       503
    │   └── ChecksumMismatchError                           502
    └── ConfigError (ValueError)                            500
"""

from __future__ import annotations

__all__ = [
    "AliasMovedError",
    "AuthenticationError",
    "ChecksumMismatchError",
    "ConfigError",
    "EgressDeniedError",
    "FeatureNotAvailableError",
    "ImageDecodeError",
    "ImageError",
    "ImageFetchError",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "InferenceError",
    "InvalidInputError",
    "InvalidParameterError",
    "LocalVisionError",
    "MissingDependencyError",
    "ModelCardError",
    "ModelConversionError",
    "ModelError",
    "ModelNotFoundError",
    "OverloadedError",
    "ProviderError",
    "RayUnavailableError",
    "RegistryError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ServerUnavailableError",
    "StorageAccessDeniedError",
    "StorageError",
    "StorageNotFoundError",
    "StorageUnavailableError",
    "UnsafeModelError",
    "UnsupportedImageFormatError",
    "UnsupportedModelFormatError",
    "http_status",
]


class LocalVisionError(Exception):
    """Base class of every error localvision raises on purpose.

    ``message`` says what went wrong (naming the file or parameter), ``hint`` what to do next.
    """

    status: int = 500
    code: str = "internal"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} {self.hint}"
        return self.message


class InvalidInputError(LocalVisionError, ValueError):
    """The caller sent something that cannot be used as it is."""

    status = 400
    code = "invalid_input"


class InvalidParameterError(InvalidInputError):
    """A parameter is out of range or of the wrong type."""

    code = "invalid_parameter"


class ImageError(InvalidInputError):
    """An image could not be used."""

    code = "invalid_image"


class ImageDecodeError(ImageError):
    """The bytes are empty, corrupt, truncated or not an image at all."""

    code = "image_decode_failed"


class UnsupportedImageFormatError(ImageError):
    """The bytes are an image, but of a format localvision does not accept."""

    code = "unsupported_image_format"


class ImageTooLargeError(ImageError):
    """The image exceeds the configured byte size or pixel count."""

    status = 413
    code = "image_too_large"


class ImageFetchError(ImageError):
    """An image URL could not be fetched, or is not allowed to be fetched."""

    code = "image_fetch_failed"


class RequestTooLargeError(InvalidInputError):
    """A request body is larger than the server accepts."""

    status = 413
    code = "request_too_large"


class ImageNotFoundError(InvalidInputError, FileNotFoundError):
    """An image path does not exist or is not a file."""

    status = 404
    code = "image_not_found"


class ModelError(LocalVisionError):
    """A model could not be loaded, converted or run."""

    code = "model_error"


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model path or name does not resolve to a model."""

    status = 404
    code = "model_not_found"


class UnsupportedModelFormatError(ModelError, ValueError):
    """The file is not a model format localvision can load."""

    status = 400
    code = "unsupported_model_format"


class UnsafeModelError(ModelError, PermissionError):
    """Loading the model would run arbitrary code (a pickle), and the user did not opt in."""

    status = 403
    code = "unsafe_model"


class ModelCardError(ModelError, ValueError):
    """The model card contradicts the model (input shape, number of labels, ...)."""

    status = 400
    code = "invalid_model_card"


class ModelConversionError(ModelError):
    """Converting a model to ONNX failed, or the converted model disagrees with the original."""

    code = "model_conversion_failed"


class InferenceError(ModelError):
    """The runtime failed while running a model."""

    code = "inference_failed"


class FeatureNotAvailableError(LocalVisionError, NotImplementedError):
    """No model is configured for a requested feature."""

    status = 501
    code = "feature_not_available"


class AuthenticationError(LocalVisionError, PermissionError):
    """The caller's credentials are missing or wrong."""

    status = 401
    code = "unauthenticated"


class EgressDeniedError(LocalVisionError, PermissionError):
    """Sending images off the machine is not allowed by the configuration."""

    status = 403
    code = "egress_denied"


class ProviderError(LocalVisionError):
    """A cloud provider failed; the message keeps the vendor's own words."""

    status = 502
    code = "provider_error"


class OverloadedError(LocalVisionError):
    """The server's queue is full; the caller should retry later."""

    status = 503
    code = "overloaded"


class ServerUnavailableError(OverloadedError):
    """The server is shutting down and stopped this request before it finished.

    Unlike load shedding (Google's ``RESOURCE_EXHAUSTED``, AWS ``ThrottlingException``) this
    is ``503 UNAVAILABLE`` everywhere: a retry belongs on another instance or the restarted
    server, and every official client retries 503 by itself.
    """

    code = "unavailable"


class RequestTimeoutError(LocalVisionError, TimeoutError):
    """A request did not finish within the server's time limit."""

    status = 504
    code = "timeout"


class MissingDependencyError(LocalVisionError, ImportError):
    """An optional dependency is needed and not installed; the message names the extra."""

    code = "missing_dependency"


class RegistryError(LocalVisionError):
    """The model registry is locked, corrupt, or newer than this version understands."""

    code = "registry_error"


class RayUnavailableError(LocalVisionError, ConnectionError):
    """The Ray cluster named cannot be reached, or Ray refused to start."""

    status = 503
    code = "ray_unavailable"


class AliasMovedError(RegistryError):
    """An alias moved between when the caller looked at it and when it asked to move it."""

    status = 409
    code = "alias_moved"

    def __init__(self, name: str, alias: str, *, expected: int | None, now: int | None) -> None:
        def shown(version: int | None) -> str:
            return "no version" if version is None else f"version {version}"

        super().__init__(
            f"{name}@{alias} is at {shown(now)}, not {shown(expected)} as expected: "
            "someone else moved it. Nothing was changed.",
            hint="Look at the registry again and retry if the move is still wanted.",
        )
        self.expected = expected
        self.now = now


class StorageError(LocalVisionError):
    """Object storage (S3, GCS, Azure Blob, a folder) could not be read or written."""

    status = 502
    code = "storage_error"


class StorageNotFoundError(StorageError, FileNotFoundError):
    """The bucket, container or object does not exist."""

    status = 404
    code = "storage_not_found"


class StorageAccessDeniedError(StorageError, PermissionError):
    """The store refused the credentials, or the bucket is not in ``[storage]``'s allow-list."""

    status = 403
    code = "storage_access_denied"


class StorageUnavailableError(StorageError, ConnectionError):
    """The store cannot be reached (or ``--offline`` forbids trying) and nothing is cached."""

    status = 503
    code = "storage_unavailable"


class ChecksumMismatchError(StorageError):
    """What was read does not have the SHA-256 its manifest records: corrupted or tampered."""

    status = 502
    code = "checksum_mismatch"


class ConfigError(LocalVisionError, ValueError):
    """The configuration file or environment holds an invalid value."""

    code = "invalid_config"


def http_status(error: BaseException) -> int:
    """The HTTP status for ``error``: its class's ``status``, or 500 for foreign exceptions."""
    if isinstance(error, LocalVisionError):
        return error.status
    return 500
