"""Wire adapters: one module per protocol, translating its JSON to and from canonical types.

They import :mod:`localvision.types` and :mod:`localvision.errors` only, hold no inference
logic, and serve both directions: the server answers a protocol with them, and a cloud provider
speaks the same protocol through them.
"""
