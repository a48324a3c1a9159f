"""``HEAD`` on every route: what ``GET`` would answer, without the body and without the aggregation.

Falcon 4 routes ``HEAD`` to ``on_head`` only. :func:`answers_head` makes each ``on_get[_suffix]``
responder answer ``HEAD`` too: the same function with the same hooks, so credentials, the rate
limit, parameters and access are checked exactly as for ``GET`` and the status and headers
match. A responder that would export asks :func:`is_head` before it takes an export slot, and
builds its report with :func:`report_without_clicks` instead of running the aggregation; the
file's headers (type, name with its dates) come from that report, as for ``GET``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar, cast

import falcon

from ..core.engine.pipeline import QuerySpec
from ..core.engine.store import Store
from ..core.report.report import Report
from ..core.request.params import ExportRequest
from ..core.service import Exporter

ResourceClass = TypeVar("ResourceClass", bound=type)


def answers_head(cls: ResourceClass) -> ResourceClass:
    """Class decorator: ``on_head[_suffix]`` is ``on_get[_suffix]`` unless the class defines its own.

    Only the class's own responders are read, so on a subclass an ``on_get`` it overrides
    answers ``HEAD`` too (rather than the base's ``on_head``).
    """
    own = vars(cls)
    for name in [n for n in own if n == "on_get" or n.startswith("on_get_")]:
        head = "on_head" + name[len("on_get") :]
        if head not in own:
            setattr(cls, head, own[name])
    return cls


def is_head(req: falcon.Request) -> bool:
    return req.method == "HEAD"


class _NoClicks:
    """The store a ``HEAD`` report is built on: its aggregation and its find (the two executors'
    queries) match nothing, and it has no other method, so a report that would need another
    query fails loudly instead of scanning."""

    def aggregate(self, pipeline: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        return iter(())

    def find(self, query: dict[str, Any], projection: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return iter(())


def report_without_clicks(exporter: Exporter, request: ExportRequest, spec: QuerySpec) -> Report:
    """The report ``GET`` would build for ``spec`` (scope, short code, dates in the timezone...) with
    no click counted: the file's name and type without running the aggregation.

    ``spec`` is resolved by the real exporter first (a default start may need the URL's creation
    or the first click: small lookups); only the export's aggregation is skipped.
    """
    headless = Exporter(exporter.settings, cast(Store, _NoClicks()), clock=exporter.clock)
    return headless.run(request, spec)
