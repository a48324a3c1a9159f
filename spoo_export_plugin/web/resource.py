"""The Falcon resource serving ``GET <route>``, ``<route>/links/<url_id>`` and ``<route>/clicks``."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import falcon
from falcon.constants import COMBINED_METHODS

from ..access.auth import Authenticator
from ..access.jwt_auth import build_authenticator
from ..access.ratelimit import Throttle
from ..core.clicks import ClickExporter
from ..core.engine.store import Store
from ..core.report.report import Report
from ..core.service import Exporter
from ..core.settings import ExportSettings
from ..files.produce import FileProducer, Target, parse_query
from . import hooks
from .head import answers_head, is_head

Hooked = TypeVar("Hooked")

#: A responder's name, as Falcon routes to it: ``on_<method>`` or ``on_<method>_<suffix>``.
RESPONDER = re.compile(r"^on_({})(_\w+)?$".format("|".join(method.lower() for method in COMBINED_METHODS)))


def with_export_hooks(target: Hooked) -> Hooked:
    """The export hooks around a responder, or (Falcon's class-level hooks) around every responder of a class.

    Before: who the caller is, the rate limit, then a refused credential raised (after it is
    counted); after: the report or raw clicks the responder left, rendered. See ``hooks.py``.
    """
    hooked = falcon.after(hooks.render_export)(target)
    for hook in (hooks.refuse_bad_credential, hooks.rate_limit, hooks.identify_caller):  # the last runs first
        hooked = falcon.before(hook)(hooked)
    return hooked


@answers_head
@with_export_hooks
class ExportResource:
    """``GET`` returns the statistics file (``HEAD`` its headers); Falcon hosts can mount it directly.

    Every responder, a subclass's own included (:meth:`__init_subclass__`), runs behind the
    export hooks: a new route cannot skip the credential check or the rate limit. What each
    route checks and produces is :class:`~spoo_export_plugin.files.produce.FileProducer`'s, the
    same code an export job runs.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Hook the responders the subclass defines (Falcon's class-level hooks wrapped only the base's)."""
        super().__init_subclass__(**kwargs)
        for name, responder in list(vars(cls).items()):
            if RESPONDER.match(name) and callable(responder):
                setattr(cls, name, with_export_hooks(responder))
        answers_head(cls)

    def __init__(self, settings: ExportSettings, *, store: Store | None = None):
        self.settings = settings
        self.store = store or Store(settings)
        self.exporter = Exporter(settings, self.store)
        self.click_exporter = ClickExporter(self.exporter)
        self.producer = FileProducer(settings, store=self.store, exporter=self.exporter)
        self.authenticator: Authenticator | None = build_authenticator(settings)
        # One rate-limit store per resource (so per app), never one per request.
        self.throttle = Throttle(settings)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """``GET <route>``: the caller's clicks (``scope=all``) or one public URL's (``scope=anon``)."""
        self._export(req, resp, Target("statistics", self._query(req)))

    def on_get_link(self, req: falcon.Request, resp: falcon.Response, url_id: str) -> None:
        """``GET <route>/links/<url_id>``: one of the caller's URLs, by id (spoo.me's per-link export)."""
        self._export(req, resp, Target("link", self._query(req), url_id))

    def on_get_clicks(self, req: falcon.Request, resp: falcon.Response) -> None:
        """``GET <route>/clicks``: one row per click of the caller's (the owner's credentials, always)."""
        self._export(req, resp, Target("clicks", self._query(req)))

    @staticmethod
    def _query(req: falcon.Request) -> dict:
        # Parsed from the raw query string, so a Falcon host's own req_options (auto_parse_qs_csv
        # would split a filters JSON at its commas) cannot change what the plugin reads.
        return parse_query(req.query_string)

    def _export(self, req: falcon.Request, resp: falcon.Response, target: Target) -> None:
        def parsed(request: Any) -> None:  # the log line names format and scope even when access is refused
            req.context.export_request = request

        planned = self.producer.plan(target, req.context.owner_id, on_parsed=parsed)
        if is_head(req):  # the file's headers without its numbers: no slot, no aggregation
            content = self.producer.without_clicks(planned)
        else:
            hooks.claim_export_slot(req)  # only a valid, permitted request takes a slot
            content = self.producer.run(planned)
        if isinstance(content, Report):
            resp.context.report = content
        else:
            resp.context.clicks = content
