"""``HEAD`` on every route: what ``GET`` would answer, without the body and without the aggregation.

Falcon 4 routes ``HEAD`` to ``on_head`` only. :func:`answers_head` makes each ``on_get[_suffix]``
responder answer ``HEAD`` too: the same function with the same hooks, so credentials, the rate
limit, parameters and access are checked exactly as for ``GET`` and the status and headers
match. A responder that would export asks :func:`is_head` before it takes an export slot, and
builds its report with ``FileProducer.without_clicks`` instead of running the aggregation; the
file's headers (type, name with its dates) come from that report, as for ``GET``.
"""

from __future__ import annotations

from typing import TypeVar

import falcon

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
