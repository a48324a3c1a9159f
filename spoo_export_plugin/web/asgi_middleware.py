"""``ExportASGIMiddleware``: the plugin's routes to the plugin, everything else to the host ASGI app."""

from __future__ import annotations

from ..core.settings import ExportSettings
from .asgi import ASGIApp, Receive, Scope, Send, create_asgi_app, within_root
from .middleware import PluginPaths


class ExportASGIMiddleware:
    """Wrap a host ASGI app (FastAPI, Starlette, Django's ASGI handler...), in Starlette's middleware
    shape, so a FastAPI host adds it in one line::

        app.add_middleware(ExportASGIMiddleware, settings=settings)

    ``http`` requests for the plugin's paths (below the mount prefix, ``root_path``) reach the
    plugin's ASGI app; every other ``http`` request, and every ``websocket`` and ``lifespan``
    scope, is handed to ``app`` unchanged (the same scope, ``receive`` and ``send``).
    """

    def __init__(self, app: ASGIApp, settings: ExportSettings | None = None, *, plugin_app: ASGIApp | None = None):
        self.app = app
        # ExportSettings.from_env() when not given: the SPOO_EXPORT_* variables, as for `spoo-export serve`.
        self.settings = settings if settings is not None else ExportSettings.from_env()
        # The plugin's own ASGI app; built here unless the host supplies one.
        self.plugin_app = plugin_app or create_asgi_app(self.settings)
        self.matches = PluginPaths(self.settings.route, jobs=self.settings.job_queue is not None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.matches(str(within_root(scope).get("path") or "")):
            await self.plugin_app(scope, receive, send)
        else:
            await self.app(scope, receive, send)
