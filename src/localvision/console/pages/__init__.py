"""The console's pages: one module each, every one adding its routes with ``register``."""
