"""LitServe serving the same classifier: JSON ``{"image": "<base64>"}`` in, the top five out.

``PEER_BATCH`` sets LitServe's ``max_batch_size`` (1: batching off), with a 5 ms batch
timeout when above 1. Run in the peers' virtual environment::

    PEER_MODEL=m.onnx PEER_LABELS=labels.txt PEER_THREADS=2 python litserve_server.py PORT
"""

import base64
import os
import sys
from typing import Any

import litserve as ls
import numpy as np
from pipeline import Classifier


class ClassifierAPI(ls.LitAPI):
    """Decoding and pre-processing in ``decode_request``, the model in ``predict``."""

    def setup(self, device: str) -> None:
        self.classifier = Classifier()

    # LitServe reads this annotation at run time to build the route: a dict is a JSON body.
    def decode_request(self, request: dict[str, Any]) -> np.ndarray[Any, Any]:
        return self.classifier.tensor(base64.b64decode(request["image"]))

    def predict(self, x: np.ndarray[Any, Any]) -> list[list[dict[str, Any]]]:
        return self.classifier.run(x if x.ndim == 4 else x[None])

    def encode_response(self, output: list[list[dict[str, Any]]]) -> dict[str, Any]:
        return {"labels": output[0]}


class BatchedClassifierAPI(ClassifierAPI):
    """The same, with the tensors of up to ``max_batch_size`` requests run as one batch."""

    def batch(self, inputs: list[np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
        return np.stack(inputs)

    def unbatch(self, output: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        return [[item] for item in output]


if __name__ == "__main__":
    batch = int(os.environ.get("PEER_BATCH", "1"))
    if batch > 1:
        api: ClassifierAPI = BatchedClassifierAPI(max_batch_size=batch, batch_timeout=0.005)
    else:
        api = ClassifierAPI()
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=60)
    server.run(
        host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", generate_client_file=False
    )
