"""What the owner's routes beside the export (jobs, schedules) share: the export hooks' inputs, their
two rate-limit tiers, and a JSON answer no shared cache keeps.

Rate-limit tiers: ``export_tier`` is the export ``GET``'s own (who, the export rate limit, a refused
credential raised once counted), for what costs like an export (submitting a job, downloading its
file, creating a schedule); ``poll_tier`` counts nothing but a refused credential (against the IP, as
on every route), for status reads, pauses and deletes, so a client waiting for its job does not spend
the export budget it is waiting to use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import falcon

from ..access.auth import Authenticator
from ..access.jwt_auth import build_authenticator
from ..access.ratelimit import Throttle
from ..core.engine.store import Store
from ..core.settings import ExportSettings
from . import hooks

Responder = TypeVar("Responder", bound=Callable[..., Any])


def count_refused_credential(req: falcon.Request, resp: falcon.Response, resource: Any, params: Any) -> None:
    """A status poll is free, unless its credential was refused: that counts against the IP as anywhere."""
    if req.context.auth_error is not None:
        hooks.rate_limit(req, resp, resource, params)


def _behind(*before: Callable[..., None]) -> Callable[[Responder], Responder]:
    """Falcon ``before`` hooks around a responder, the first listed running first."""

    def wrap(responder: Responder) -> Responder:
        for hook in reversed(before):
            responder = falcon.before(hook)(responder)
        return responder

    return wrap


#: The export's own checks: who, the export rate limit, a refused credential raised once counted.
export_tier = _behind(hooks.identify_caller, hooks.rate_limit, hooks.refuse_bad_credential)
#: A status poll's: who, and a refused credential (counted against the IP) raised.
poll_tier = _behind(hooks.identify_caller, count_refused_credential, hooks.refuse_bad_credential)


class OwnerRoutes:
    """Base of a resource whose responders run behind :data:`export_tier` / :data:`poll_tier`. Build it
    with the export resource's store, throttle and authenticator (``assemble`` does), so its counted
    requests and a ``GET`` share one rate-limit budget."""

    #: For :class:`~spoo_export_plugin.web.guard.ExportGuard`: one of the plugin's routes (a GET with a
    #: body is refused). A subclass names the methods whose JSON body the guard reads, bounded, first.
    plugin_route = True
    json_body_methods: tuple[str, ...] = ()

    def __init__(
        self,
        settings: ExportSettings,
        *,
        store: Store | None = None,
        throttle: Throttle | None = None,
        authenticator: Authenticator | None = None,
    ):
        self.settings = settings
        self.store = store or Store(settings)
        # The hooks read these three names, as on ExportResource.
        self.throttle = throttle or Throttle(settings)
        self.authenticator = authenticator if authenticator is not None else build_authenticator(settings)


def json_answer(resp: falcon.Response, document: dict[str, Any]) -> None:
    """A JSON answer no shared cache keeps (a job or schedule names its owner's data, a download token,
    recipients)."""
    resp.content_type = falcon.MEDIA_JSON
    resp.set_header("Cache-Control", "private, no-store")
    resp.data = json.dumps(document, ensure_ascii=False).encode()
