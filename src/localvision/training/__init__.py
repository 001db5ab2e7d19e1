"""Training on your own images: datasets, feature extraction, heads, merged ONNX models."""
