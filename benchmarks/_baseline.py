"""The naive reference design the plugin is measured against, served by its own Falcon app.

What spoo.me-like code does: one ``$facet`` with one sub-pipeline per breakdown, unique
visitors counted with ``$addToSet`` (here of the (ip, user agent) pair, so the numbers are
the plugin's) and ``$size``; then whole-file buffers: ``json.dumps`` of the whole tree,
``xmltodict.unparse`` of the whole tree, openpyxl in normal (not write-only) mode, csv
files written into an in-memory zip. Only what the benchmark's request needs is handled:
``scope=all`` with an API key, day buckets in UTC, explicit start and end dates.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import falcon
import xmltodict
from openpyxl import Workbook
from openpyxl.styles import Font

ROUTE = "/baseline/export"
_UNKNOWN = {"referrer": "Direct"}
_FIELD = {"short_code": "$meta.short_code"}
_VISITOR = {"ip": {"$ifNull": ["$ip_address", None]}, "ua": {"$ifNull": ["$user_agent", None]}}
_DAY = {
    "y": {"$year": {"date": "$clicked_at", "timezone": "UTC"}},
    "m": {"$month": {"date": "$clicked_at", "timezone": "UTC"}},
    "d": {"$dayOfMonth": {"date": "$clicked_at", "timezone": "UTC"}},
}


def _label(dim: str) -> dict[str, Any]:
    field = _FIELD.get(dim, "$" + dim)
    return {"$cond": [{"$eq": [{"$ifNull": [field, ""]}, ""]}, _UNKNOWN.get(dim, "Unknown"), field]}


def _counted(group_id: Any) -> list[dict[str, Any]]:
    return [
        {"$group": {"_id": group_id, "clicks": {"$sum": 1}, "visitors": {"$addToSet": _VISITOR}}},
        {"$project": {"clicks": 1, "uniques": {"$size": "$visitors"}}},
    ]


def facet_pipeline(owner: Any, start: datetime, end: datetime, group_by: list[str]) -> list[dict[str, Any]]:
    facets: dict[str, list[dict[str, Any]]] = {
        "summary": [
            {
                "$group": {
                    "_id": None,
                    "clicks": {"$sum": 1},
                    "visitors": {"$addToSet": _VISITOR},
                    "first": {"$min": "$clicked_at"},
                    "last": {"$max": "$clicked_at"},
                }
            },
            {"$project": {"clicks": 1, "first": 1, "last": 1, "uniques": {"$size": "$visitors"}}},
        ]
    }
    for dim in group_by:
        facets[dim] = _counted(_DAY if dim == "time" else _label(dim))
    if "time" in group_by:
        for dim in group_by:
            if dim != "time":
                facets["time_" + dim] = _counted({**_DAY, "v": _label(dim)})
    return [{"$match": {"meta.owner_id": owner, "clicked_at": {"$gte": start, "$lte": end}}}, {"$facet": facets}]


def build_tree(doc: dict[str, Any], start: datetime, end: datetime, group_by: list[str]) -> dict[str, Any]:
    """The facet's one output document as the export tree (same keys as the plugin's JSON)."""
    s = (doc.get("summary") or [{}])[0]
    tree: dict[str, Any] = {
        "scope": "all",
        "short_code": None,
        "timezone": "UTC",
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "granularity": "day",
        "group_by": group_by,
        "metrics": ["clicks", "unique_clicks"],
        "filters": {},
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "summary": {
            "total_clicks": s.get("clicks", 0),
            "unique_clicks": s.get("uniques", 0),
            "first_click": s["first"].isoformat() if s.get("first") else None,
            "last_click": s["last"].isoformat() if s.get("last") else None,
            "truncated": False,
        },
        "breakdowns": {},
    }
    out = tree["breakdowns"]
    for dim in group_by:
        rows = doc[dim]
        if dim == "time":
            found = {_day(r["_id"]): r for r in rows}
            day, days = start.date(), []
            while day <= end.date():  # fill the days without clicks
                r = found.get(day, {})
                days.append(
                    {"time": day.isoformat(), "clicks": r.get("clicks", 0), "unique_clicks": r.get("uniques", 0)}
                )
                day += timedelta(days=1)
            out["time"] = days
        else:
            rows = sorted(rows, key=lambda r: (-r["clicks"], r["_id"]))
            out[dim] = [{dim: r["_id"], "clicks": r["clicks"], "unique_clicks": r["uniques"]} for r in rows]
    for dim in group_by:
        if "time" in group_by and dim != "time":
            rows = sorted(doc["time_" + dim], key=lambda r: (_day(r["_id"]), -r["clicks"], r["_id"]["v"]))
            out["time," + dim] = [
                {
                    "time": _day(r["_id"]).isoformat(),
                    dim: r["_id"]["v"],
                    "clicks": r["clicks"],
                    "unique_clicks": r["uniques"],
                }
                for r in rows
            ]
    return tree


def _day(key: dict[str, int]) -> Any:
    return datetime(key["y"], key["m"], key["d"]).date()


def render_json(tree: dict[str, Any]) -> bytes:
    return json.dumps(tree, ensure_ascii=False).encode()


def render_xml(tree: dict[str, Any]) -> bytes:
    body = dict(tree, breakdowns={k.replace(",", "_"): {"row": v} for k, v in tree["breakdowns"].items()})
    return xmltodict.unparse({"export": body}).encode()


def _summary_rows(tree: dict[str, Any]) -> list[list[Any]]:
    head = [
        [k, ",".join(v) if isinstance(v, list) else json.dumps(v) if isinstance(v, dict) else v]
        for k, v in tree.items()
        if k not in ("summary", "breakdowns")
    ]
    return head + [[k, v] for k, v in tree["summary"].items()]


def render_xlsx(tree: dict[str, Any]) -> bytes:
    wb = Workbook()
    bold = Font(bold=True)
    ws = wb.active
    ws.title = "Summary"
    for row in _summary_rows(tree):
        ws.append(row)
    for name, rows in tree["breakdowns"].items():
        ws = wb.create_sheet(name)
        columns = list(rows[0]) if rows else name.split(",")
        ws.append(columns)
        for cell in ws[1]:
            cell.font = bold
        ws.freeze_panes = "A2"
        for r in rows:
            ws.append([datetime.fromisoformat(v) if k == "time" else v for k, v in r.items()])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def render_csv(tree: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        tables = {"summary": (["name", "value"], _summary_rows(tree))}
        for name, rows in tree["breakdowns"].items():
            tables["by_" + name.replace(",", "_and_")] = (
                list(rows[0]) if rows else [],
                [list(r.values()) for r in rows],
            )
        for name, (header, rows) in tables.items():
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(header)
            writer.writerows(rows)
            zf.writestr(name + ".csv", text.getvalue())
    return buf.getvalue()


RENDERERS: dict[str, tuple[str, Callable[[dict[str, Any]], bytes]]] = {
    "json": ("application/json", render_json),
    "xml": ("application/xml", render_xml),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", render_xlsx),
    "csv": ("application/zip", render_csv),
}


class BaselineResource:
    def __init__(self, db: Any):
        self.db = db

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = (req.get_header("Authorization") or "").removeprefix("Bearer spoo_")
        key = self.db["api-keys"].find_one({"token_hash": hashlib.sha256(token.encode()).hexdigest()})
        if key is None:
            raise falcon.HTTPUnauthorized()
        group_by = req.get_param("group_by").split(",")
        start = datetime.fromisoformat(req.get_param("start_date")).replace(tzinfo=None)
        end = datetime.fromisoformat(req.get_param("end_date")).replace(tzinfo=None)
        doc = next(
            iter(self.db.clicks.aggregate(facet_pipeline(key["user_id"], start, end, group_by), allowDiskUse=True))
        )
        media_type, render = RENDERERS[req.get_param("format")]
        resp.content_type = media_type
        resp.data = render(build_tree(doc, start, end, group_by))


def create_baseline_app(db: Any) -> falcon.App:
    app = falcon.App()
    app.req_options.auto_parse_qs_csv = False
    app.add_route(ROUTE, BaselineResource(db))
    return app
