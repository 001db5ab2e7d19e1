"""Images in and out: ``decode`` (safe decoding under size and pixel limits, EXIF orientation,
reduced-scale JPEG draft), ``draw`` (annotations on the image), ``inputs`` (files, folders and
globs to image paths).

Imports only ``types`` and ``errors``; everything above may use it.
"""
