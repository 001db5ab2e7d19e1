"""The localvision server: cloud-compatible APIs in front of local models.

``create_app(settings)`` builds the ASGI app; ``localvision serve`` runs it with uvicorn.
"""

from .app import create_app
from .state import ServerState

__all__ = ["ServerState", "create_app"]
