"""The baseline: the FastAPI + uvicorn + ONNX Runtime server a user writes in ten minutes.

One route taking a multipart upload (``image``), classification in FastAPI's thread pool (a
plain ``def`` route), JSON out. Run in the peers' virtual environment::

    PEER_MODEL=m.onnx PEER_LABELS=labels.txt PEER_THREADS=2 python fastapi_server.py PORT
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, File, UploadFile
from pipeline import Classifier

app = FastAPI()
classifier = Classifier()


@app.post("/classify")
def classify(image: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008 (FastAPI's idiom)
    """The top five labels for the uploaded image."""
    return {"labels": classifier.classify(image.file.read())}


@app.get("/health")
def health() -> dict[str, str]:
    """Ready once the module (and so the model) has loaded."""
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
