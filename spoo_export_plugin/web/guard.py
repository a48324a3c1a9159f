"""Falcon middleware around the export resource: no request body, the concurrency cap and the log line.

It is middleware rather than a hook because ``process_response`` runs for every outcome,
errors included, and sees the final status. The responder takes a slot
(``hooks.claim_export_slot``) once the request is authenticated, rate-limited, valid and
permitted; this middleware hands it to the streamed body and releases it only when the
server has sent or closed that body.
Falcon hosts mounting :class:`ExportResource` directly add ``ExportGuard(settings)`` to
their app's middleware to get the same behaviour.

A ``GET`` or ``HEAD`` to one of the plugin's routes that announces a body is refused (413)
before anything runs: the plugin reads no body there, and a client trickling one must not get an
export running for it. The body is left unread; under ``spoo-export serve`` the answer says
``Connection: close`` and no thread waits for the rest (ops/worker.py).

The one body the plugin reads, a job submission's small JSON (``POST <route>/jobs``), is read here,
at most 16 KiB (``json_body.py``), before the responder runs: in the ASGI door that read is awaited
on the event loop, which the threaded responder cannot do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import falcon

from ..access.slots import ExportSlots
from ..core.exceptions import ContentTooLarge
from ..core.report.timebudget import RenderTimeout
from ..core.settings import ExportSettings
from .json_body import read_asgi_body, read_wsgi_body
from .observability import ExportTimer, ObservedBody, safe_choice
from .offload import wrapped_resource
from .openapi import OpenAPIResource
from .resource import ExportResource

NO_BODY = "a GET or HEAD request to this route takes no body; send none"


def has_body(req: falcon.Request) -> bool:
    """A body is announced: a non-zero Content-Length or any Transfer-Encoding."""
    return bool(req.get_header("Transfer-Encoding")) or (req.content_length or 0) > 0


class ExportGuard:
    def __init__(self, settings: ExportSettings):
        self.slots = ExportSlots(settings.max_concurrent_exports, settings.retry_after_seconds)
        self.body_timeout = float(settings.send_timeout_seconds)  # a job submission's body, in the ASGI door

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: Any, params: Any) -> None:
        if self._admit(req, resource):
            req.context.request_body = read_wsgi_body(req)

    def _admit(self, req: falcon.Request, resource: Any) -> bool:
        """Set up the export's bookkeeping, refuse an unwanted body; True when the body is to be read."""
        resource = wrapped_resource(resource)  # the ASGI door's adapter holds the same resource
        ours = isinstance(resource, (ExportResource, OpenAPIResource)) or getattr(resource, "plugin_route", False)
        if req.method == "GET" and isinstance(resource, ExportResource):
            req.context.export_timer = ExportTimer()  # the refusal below is logged like any other
            req.context.export_slot = None
            req.context.export_slots = self.slots  # claimed once the request is valid and permitted
        if ours and req.method in ("GET", "HEAD") and has_body(req):
            raise ContentTooLarge(NO_BODY)
        reads_body = ours and req.method in getattr(resource, "json_body_methods", ())
        if reads_body:
            req.context.export_slots = self.slots  # a job run inside its POST (immediate://) takes one
        return reads_body

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        timer = req.context.get("export_timer")
        if timer is None:
            return
        slot = req.context.get("export_slot")
        request = req.context.get("export_request")
        report = resp.context.get("report")
        owner = req.context.get("owner_id")
        timer.fields = {
            "scope": request.scope if request else safe_choice("scope", req.get_param("scope") or "all"),
            "format": request.format if request else safe_choice("format", req.get_param("format")),
            "owner": str(owner) if owner is not None else None,
            "rows": sum(len(b.rows) for b in report.breakdowns.values()) if report is not None else 0,
        }
        clicks = resp.context.get("clicks")
        if clicks is not None:  # a raw-click export: its row count, never a click's content
            timer.fields.update(route="clicks", rows=clicks.row_count)
        status = resp.status_code
        if status < 400 and resp.stream is not None:

            def finished(sent: int, completed: bool) -> None:
                if slot is not None:
                    slot.release()
                reason = "render_time_ms" if isinstance(observed.error, RenderTimeout) else None
                timer.emit(status=status, outcome="ok" if completed else "aborted", bytes_sent=sent, reason=reason)

            stream = cast("Iterable[bytes]", resp.stream)  # the plugin's hooks always stream an iterable of bytes
            resp.stream = observed = ObservedBody(stream, finished)
            return
        if slot is not None:
            slot.release()
        body = resp.data or (resp.text.encode() if isinstance(resp.text, str) else b"")
        timer.emit(status=status, outcome="ok" if status < 400 else "error", bytes_sent=len(body or b""))

    # The ASGI door (falcon.asgi wants coroutines): the same methods; only a POST's body is awaited.
    async def process_resource_async(self, req: Any, resp: Any, resource: Any, params: Any) -> None:
        if self._admit(req, resource):
            req.context.request_body = await read_asgi_body(req, timeout=self.body_timeout)

    async def process_response_async(self, req: Any, resp: Any, resource: Any, req_succeeded: bool) -> None:
        self.process_response(req, resp, resource, req_succeeded)
