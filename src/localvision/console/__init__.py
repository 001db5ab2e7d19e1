"""The web console at ``/console``: try an image and see what each feature found drawn on it,
manage registered models, see what left the machine, and how the server is doing.

Server-rendered pages (Jinja2 templates) with two small plain scripts, everything shipped in
the package, nothing from a CDN: the console works offline. It is served by the same server
and process as the API, behind the same credentials gate (an API key logs in; the browser then
holds only a session cookie). The console never imports the server: the server hands it a
:class:`ConsoleBackend` and mounts it with :func:`mount`.
"""

from .backend import ConsoleBackend, QueueState, ServedModel
from .mount import mount
from .site import Site

__all__ = ["ConsoleBackend", "QueueState", "ServedModel", "Site", "mount"]
