"""The html report over HTTP, parsed back with the standard library's html.parser.

Expected values come from the JSON answer to the same request or are literals written here.
What a browser does with the file (screenshot, PDF, no request, no console error) is
tests/formats/test_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any

import pytest

from spoo_export_plugin.core.report.report import Breakdown, Report, Summary
from spoo_export_plugin.formats import FORMATS

from ..doors import make_app
from ..factories import ROUTE
from .hostile_data import fetch, xml_chars

#: The response header: nothing loads or runs, no <base>, no form target, no site may frame the page.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
#: The <meta> copy: the same less frame-ancestors, which browsers ignore (with a warning) in a <meta>.
META_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
#: Elements that load, run or submit something; none may appear in the report.
ACTIVE = {
    "script",
    "img",
    "iframe",
    "object",
    "embed",
    "link",
    "base",
    "form",
    "video",
    "audio",
    "source",
    "image",
    "use",
    "foreignobject",
    "a",
    "frame",
    "frameset",
    "applet",
    "input",
    "button",
}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Any] = field(default_factory=list)  # Node or str
    parent: Node | None = None

    def iter(self, tag: str | None = None) -> Iterator[Node]:
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter(tag)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find(self, tag: str, **attrs: str) -> Node | None:
        return next((n for n in self.iter(tag) if all(n.attrs.get(k) == v for k, v in attrs.items())), None)


class TreeBuilder(HTMLParser):
    """A small DOM from html.parser (which reports tags and text, not a tree)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list) -> None:
        node = Node(tag, dict(attrs), parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.current.children.append(Node(tag, dict(attrs), parent=self.current))

    def handle_endtag(self, tag: str) -> None:
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        assert node is not self.root, f"</{tag}> closes nothing open"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(body: bytes) -> TreeBuilder:
    builder = TreeBuilder()
    builder.feed(body.decode("utf-8"))
    builder.close()
    assert builder.current is builder.root, "an element was left open"
    return builder


def tables(doc: Node) -> dict[str, Node]:
    """Breakdown tables by caption text (not the summary's)."""
    return {t.find("caption").text(): t for t in doc.iter("table") if t.attrs.get("class") != "summary"}


def summary(doc: Node) -> dict[str, str]:
    """The summary tables' rows, name -> value; checks each is a row header."""
    rows = [tr for table in doc.iter("table") if table.attrs.get("class") == "summary" for tr in table.iter("tr")]
    assert rows and all(tr.find("th").attrs["scope"] == "row" for tr in rows)
    return {tr.find("th").text(): tr.find("td").text() for tr in rows}


def body_rows(table: Node) -> list[list[str]]:
    return [[cell.text() for cell in tr.children if isinstance(cell, Node)] for tr in table.find("tbody").iter("tr")]


def shown(value: Any) -> str:
    """How the report writes a JSON value in a table cell (counts with thousands separators)."""
    if isinstance(value, int):
        return f"{value:,}"
    return xml_chars(value)


#: How the report's table captions name the dimensions (literals, not the product's table).
WORDS = {"os": "operating system", "short_code": "short code", "utm_source": "UTM source"}


def caption_for(name: str) -> str:
    return "Clicks by " + " and ".join(WORDS.get(dim, dim) for dim in name.split(","))


# ---------------------------------------------------------------------------------- http
def directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy as {directive: its sources}, as a browser splits it."""
    pairs = [part.strip().partition(" ") for part in policy.split(";") if part.strip()]
    return {name: sources for name, _, sources in pairs}


def test_the_policy_header_is_complete_and_its_meta_copy_valid(client, dataset):
    """Through the real app: the header forbids framing (clickjacking), <base> and form targets besides
    loading anything; the <meta> copy holds every directive a <meta> can carry and nothing else."""
    resp = fetch(client, dataset, "html")
    assert resp.status_code == 200
    header = directives(resp.headers["content-security-policy"])
    assert header == {
        "default-src": "'none'",
        "style-src": "'unsafe-inline'",
        "img-src": "data:",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    assert [k for k, v in resp.headers.items() if k.lower() == "content-security-policy"] == [
        "content-security-policy"
    ]  # sent once
    meta = parse(resp.content).root.find("meta", **{"http-equiv": "Content-Security-Policy"}).attrs["content"]
    # frame-ancestors, report-uri and sandbox are ignored in a <meta> (CSP 3, section 3.3)
    assert directives(meta) == {k: v for k, v in header.items() if k != "frame-ancestors"}
    for fmt in ("json", "csv", "xlsx", "xml"):  # the other formats are downloads no browser renders
        assert "content-security-policy" not in fetch(client, dataset, fmt).headers


def test_html_headers(client, dataset):
    resp = fetch(client, dataset, "html")
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["content-security-policy"] == CSP
    assert resp.headers["content-disposition"] == 'attachment; filename="spoo-export_all_20250308_20250310.html"'
    assert resp.headers["x-content-type-options"] == "nosniff"
    head = client.simulate_head(
        ROUTE,
        params={"format": "html", "scope": "all", "start_date": "2025-03-08", "end_date": "2025-03-10T23:59:59"},
        headers=dataset["auth"],
    )
    assert head.status_code == 200 and head.content == b""
    assert {k: head.headers[k] for k in ("content-type", "content-security-policy", "content-disposition")} == {
        k: resp.headers[k] for k in ("content-type", "content-security-policy", "content-disposition")
    }


def test_tables_hold_the_json_report(client, dataset):
    expected = fetch(client, dataset, "json").json
    builder = parse(fetch(client, dataset, "html").content)
    assert builder.doctype.lower() == "doctype html"
    doc = builder.root
    assert doc.find("html").attrs["lang"] == "en"
    found = tables(doc)
    assert list(found) == [caption_for(name) for name in expected["breakdowns"]]
    for name, rows in expected["breakdowns"].items():
        table = found[caption_for(name)]
        header = [th for th in table.find("thead").iter("th")]
        assert [th.text() for th in header] == list(rows[0])
        assert all(th.attrs.get("scope") == "col" for th in header)
        assert body_rows(table) == [[shown(v) for v in row.values()] for row in rows], name
        assert all(
            tr.children[0].tag == "th" and tr.children[0].attrs["scope"] == "row"
            for tr in table.find("tbody").iter("tr")
        )
    figures = summary(doc)
    assert [t.find("caption").text() for t in doc.iter("table") if t.attrs.get("class") == "summary"] == [
        "Totals",
        "What was counted",
    ]
    assert figures["Total clicks"] == "17" and figures["Timezone"] == "UTC" and figures["Granularity"] == "day"
    assert (expected["start_date"], expected["end_date"]) == ("2025-03-08T00:00:00+00:00", "2025-03-10T23:59:59+00:00")
    assert (figures["Start"], figures["End"]) == ("2025-03-08 00:00:00 +00:00", "2025-03-10 23:59:59 +00:00")
    assert figures["Complete"] == "yes: no breakdown was cut"
    generated = datetime.fromisoformat(expected["generated_at"])  # to the second, no fraction, with the offset
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+00:00", figures["Generated at"])
    assert abs(datetime.strptime(figures["Generated at"], "%Y-%m-%d %H:%M:%S %z") - generated).total_seconds() < 60
    assert figures["First click"] == "2025-03-08 00:05:00 +00:00"
    assert figures["Filters"] == "none" and figures["Bots excluded"] == "no"
    assert figures["Unique clicks"] == str(expected["summary"]["unique_clicks"])


def test_no_hostile_value_becomes_markup(client, dataset):
    filters = '{"city": ["<script>alert(1)</script>", "\\"><img src=x onerror=alert(1)>"]}'
    body = fetch(client, dataset, "html", group_by="time,city,referrer", exclude=filters).content
    doc = parse(body).root
    elements = {node.tag for node in doc.iter()}
    assert not elements & ACTIVE, elements & ACTIVE
    attributes = {name for node in doc.iter() for name in node.attrs}
    assert (
        not [a for a in attributes if a.startswith("on")] and not {"href", "src", "srcset", "xlink:href"} & attributes
    )
    style = "".join(node.text() for node in doc.iter("style"))
    assert "url(" not in style and "@import" not in style and "@font-face" not in style
    assert doc.find("meta", **{"http-equiv": "Content-Security-Policy"}).attrs["content"] == META_CSP
    cities = [row[0] for row in body_rows(tables(doc)["Clicks by city"])]
    assert {
        "]]> <script>alert(1)</script>",
        '=HYPERLINK("http://evil.example","click")',
        "Null",
        "CtlBell",
        "Zürich",
        "🦄 Town",
        "Mid\rreturn",
        "Unknown",
    } <= set(cities)
    svg_text = {node.text() for svg in doc.iter("svg") for node in svg.iter("title")}
    assert {'=HYPERLINK("http://evil.example","click")', "\tTabbed", "#N/A"} <= svg_text  # bars' full labels
    assert summary(doc)["Excluded values"] == 'city = <script>alert(1)</script>, "><img src=x onerror=alert(1)>'
    assert b"<script" not in body and b"<img" not in body and b"\x00" not in body and b"\x1b" not in body


def test_charts_are_accessible_svg(client, dataset):
    expected = fetch(client, dataset, "json", group_by="time,browser,city").json["breakdowns"]
    doc = parse(fetch(client, dataset, "html", group_by="time,browser,city").content).root
    charts = list(doc.iter("svg"))
    assert len(charts) == 3  # time, then browser and city (time,browser is a table only)
    for svg in charts:
        assert svg.attrs["role"] == "img"
        title_id, desc_id = svg.attrs["aria-labelledby"].split()
        assert svg.find("title", id=title_id).text() and svg.find("desc", id=desc_id).text()
    line, browser, city = charts
    lines = list(line.iter("polyline"))
    assert [p.attrs["data-series"] for p in lines] == ["clicks", "unique clicks"]
    assert all(len(p.attrs["points"].split()) == len(expected["time"]) == 3 for p in lines)
    assert line.find("title").text() == "Clicks and unique clicks per day, 2025-03-08 00:00 to 2025-03-10 23:59 (UTC)"
    assert "highest 6 (2025-03-08)" in line.find("desc").text()
    bars = lambda svg: [n for n in svg.iter("rect") if n.attrs.get("class") == "bar"]  # noqa: E731
    assert len(bars(browser)) == 2 * len(expected["browser"]) == 8
    assert len(bars(city)) == 2 * 10 and len(expected["city"]) == 16
    assert city.find("title").text().startswith("Top 10 cities by clicks, ")
    assert browser.find("title").text().startswith("All 4 browsers by clicks, ")
    assert [g.find("title").text() for g in city.iter("g")] == [xml_chars(r["city"]) for r in expected["city"][:10]]


def test_equal_series_both_show_in_the_line_chart(client, dataset):
    """Unique clicks = clicks on every day: the two lines coincide, so the later one is dashed and
    narrower than the solid one under it (both colours show), and the legend draws each line's style."""
    days = dict(start_date="2025-03-09", group_by="time")
    rows = fetch(client, dataset, "json", **days).json["breakdowns"]["time"]
    assert len(rows) == 2 and all(r["clicks"] == r["unique_clicks"] for r in rows)
    line = next(parse(fetch(client, dataset, "html", **days).content).root.iter("svg"))
    clicks, uniques = line.iter("polyline")
    assert (clicks.attrs["data-series"], uniques.attrs["data-series"]) == ("clicks", "unique clicks")
    assert clicks.attrs["points"] == uniques.attrs["points"]  # the same line...
    assert clicks.attrs["stroke"] != uniques.attrs["stroke"]
    assert "stroke-dasharray" not in clicks.attrs  # ...drawn solid, then dashed over it
    dashes = [float(n) for n in uniques.attrs["stroke-dasharray"].split()]
    assert len(dashes) >= 2 and all(d > 0 for d in dashes)
    assert float(clicks.attrs["stroke-width"]) > float(uniques.attrs["stroke-width"])
    legend = [n for n in line.iter("line") if n.attrs.get("class") == "legend-line"]
    style = lambda n: tuple(n.attrs.get(k) for k in ("stroke", "stroke-width", "stroke-dasharray"))  # noqa: E731
    assert [style(n) for n in legend] == [style(clicks), style(uniques)]


def test_words_name_dimensions_naturally_and_times_read_to_the_second(settings, dataset, door):
    """Plural words in chart titles, counted when all rows are charted; singular words in table captions;
    a declared dimension by its name; times without fractions, with the zone's offset."""
    import falcon.testing

    client = falcon.testing.TestClient(make_app(settings.replace(extra_dimensions={"platform": "device_type"})))
    doc = parse(
        fetch(
            client, dataset, "html", group_by="os,short_code,utm_source,platform,city", timezone="Asia/Kolkata"
        ).content
    ).root
    assert [svg.find("title").text().split(", 2025")[0] for svg in doc.iter("svg")] == [
        "Clicks of the only operating system",
        "All 2 short codes by clicks",
        "Clicks of the only UTM source",
        "Clicks of the only platform",
        "Top 10 cities by clicks",
    ]
    assert list(tables(doc)) == [
        "Clicks by operating system",
        "Clicks by short code",
        "Clicks by UTM source",
        "Clicks by platform",
        "Clicks by city",
    ]
    figures = summary(doc)
    # (the end, 2025-03-10T23:59:59 naive, is UTC)
    assert (figures["Start"], figures["End"]) == ("2025-03-08 00:00:00 +05:30", "2025-03-11 05:29:59 +05:30")
    assert figures["First click"] == "2025-03-08 05:35:00 +05:30"  # 00:05 UTC
    footer = doc.find("footer").text()
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30 by", footer), footer


def test_share_only_is_charted_as_percentages(client, dataset):
    doc = parse(fetch(client, dataset, "html", group_by="time,browser", metrics="share").content).root
    line = next(doc.iter("svg"))
    assert [p.attrs["data-series"] for p in line.iter("polyline")] == ["share of clicks"]
    assert any(t.text().endswith(" %") for t in line.iter("text"))
    assert body_rows(tables(doc)["Clicks by browser"])[0] == ["Chrome", "35.3 %"]  # 6 of 17


def test_without_time_there_is_no_line_chart(client, dataset):
    doc = parse(fetch(client, dataset, "html", group_by="browser").content).root
    assert [svg.find("title").text()[:22] for svg in doc.iter("svg")] == ["All 4 browsers by clic"]
    assert not list(doc.iter("polyline"))


# ---------------------------------------------------------------------------------- long tables
def long_report(cities: int, total_rows: int) -> Report:
    utc = timezone.utc
    rows = [(f"City {i:05d}", cities - i, 1) for i in range(cities)]
    return Report(
        scope="all",
        short_code=None,
        timezone="UTC",
        start=datetime(2025, 3, 9, tzinfo=utc),
        end=datetime(2025, 3, 10, tzinfo=utc),
        granularity="day",
        group_by=("city",),
        metrics=("clicks", "unique_clicks"),
        filters={},
        generated_at=datetime(2025, 3, 11, tzinfo=utc),
        summary=Summary(
            total_clicks=10, unique_clicks=5, truncated_breakdowns=("city",) if total_rows > cities else ()
        ),
        breakdowns={"city": Breakdown("city", ("city", "clicks", "unique_clicks"), rows, total_rows)},
    )


def test_a_table_shows_its_first_1000_rows_and_says_how_many_more_exist(db):
    from spoo_export_plugin import ExportSettings

    body = b"".join(FORMATS["html"].render(long_report(1_205, 1_205), ExportSettings(database=db)))
    doc = parse(body).root
    table = tables(doc)["Clicks by city"]
    rows = body_rows(table)
    assert len(rows) == 1_000 and rows[0] == ["City 00000", "1,205", "1"] and rows[-1][0] == "City 00999"
    notes = [p.text() for p in doc.iter("p") if p.attrs.get("class") == "note" and p.parent.tag == "section"]
    assert notes == ["Showing the first 1,000 of 1,205 rows: 205 more are in the csv, json, xlsx and xml exports."]
    capped = parse(b"".join(FORMATS["html"].render(long_report(900, 5_000), ExportSettings(database=db)))).root
    notes = [p.text() for p in capped.iter("p") if p.attrs.get("class") == "note" and p.parent.tag == "section"]
    assert notes == ["The server's row limits cut this breakdown at 900 of 5,000 rows in every format."]
    assert summary(capped)["Complete"] == (
        "no: the server's row limits cut city (the notes under their tables say where)"
    )
    assert len(body_rows(tables(capped)["Clicks by city"])) == 900


def test_a_crossed_table_shows_its_20_busiest_rows_and_says_the_full_table_is_elsewhere(client, db):
    """30 days x 3 browsers: time,browser has 90 rows; the page shows the 20 with the most clicks (ties in
    the table's order), says so, and sends the full table to the other formats. Single tables stay whole."""
    from bson import ObjectId

    from ..factories import add_api_key, add_url, make_click

    owner = ObjectId()
    auth = {"Authorization": f"Bearer {add_api_key(db, owner)}"}
    add_url(db, "busy", owner, created_at=datetime(2025, 1, 1))
    db.clicks.insert_many(
        [
            make_click("busy", owner, datetime(2025, 1, 1 + day, 12, n), browser=browser, ip_address=f"10.0.{day}.{n}")
            for day in range(30)
            for b, browser in enumerate(("Chrome", "Firefox", "Safari"))
            for n in range(1 + (day * 7 + b * 3) % 11)
        ]
    )
    query = {"scope": "all", "start_date": "2025-01-01", "end_date": "2025-01-30", "group_by": "time,browser"}
    expected = client.simulate_get(ROUTE, params={"format": "json", **query}, headers=auth).json["breakdowns"]
    resp = client.simulate_get(ROUTE, params={"format": "html", **query}, headers=auth)
    assert resp.status_code == 200
    doc = parse(resp.content).root
    crossed = expected["time,browser"]
    assert len(crossed) == 90
    busiest = sorted(crossed, key=lambda row: -row["clicks"])[:20]  # Python's sort is stable: ties keep order
    table = tables(doc)["Clicks by time and browser"]
    assert body_rows(table) == [[shown(v) for v in row.values()] for row in busiest]
    note = [p.text() for p in table.parent.parent.iter("p") if p.attrs.get("class") == "note"]
    assert note == [
        "The 20 rows with the most clicks of 90, busiest first: the full table is in the "
        "csv, json, xlsx and xml exports."
    ]
    assert len(body_rows(tables(doc)["Clicks by time"])) == 30  # not crossed: every row
    assert [r[0] for r in body_rows(tables(doc)["Clicks by browser"])] == [r["browser"] for r in expected["browser"]]
    query["metrics"] = "share"  # no clicks column to rank by: the first 20 rows
    first = client.simulate_get(ROUTE, params={"format": "json", **query}, headers=auth).json["breakdowns"]
    table = tables(parse(client.simulate_get(ROUTE, params={"format": "html", **query}, headers=auth).content).root)[
        "Clicks by time and browser"
    ]
    assert [row[:2] for row in body_rows(table)] == [[r["time"], r["browser"]] for r in first["time,browser"][:20]]
    assert [p.text() for p in table.parent.parent.iter("p") if p.attrs.get("class") == "note"] == [
        "The first 20 of 90 rows: the full table is in the csv, json, xlsx and xml exports."
    ]


def test_one_link_route_sends_the_report_with_its_policy(client, dataset, db):
    url_id = str(db.urlsV2.find_one({"alias": "abc"})["_id"])
    resp = client.simulate_get(
        f"{ROUTE}/links/{url_id}",
        headers=dataset["auth"],
        params={"format": "html", "start_date": "2025-03-08", "end_date": "2025-03-10"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["content-security-policy"] == CSP
    assert resp.headers["content-disposition"] == 'attachment; filename="spoo-export_abc_20250308_20250310.html"'
    figures = summary(parse(resp.content).root)
    assert (figures["Scope"], figures["Short code"], figures["URL id"]) == ("link", "abc", url_id)


def test_a_long_series_is_drawn_with_its_peaks_in_bounded_size():
    from spoo_export_plugin.formats._svg import decimate

    values = [i % 7 for i in range(10_000)]
    values[4_321] = 99
    points = decimate(values, 800)
    assert len(points) <= 1_600 and (4_321, 99) in points and points == sorted(points)
    assert {v for _, v in points} == {0, 6, 99}  # each column's low and high
    assert decimate([3, 1, 2], 800) == [(0, 3), (1, 1), (2, 2)]


@pytest.mark.parametrize(
    "peak, whole, expected",
    [
        (1, True, (1, 1)),
        (3, True, (3, 1)),
        (8, True, (8, 2)),
        (198, True, (200, 50)),
        (500, True, (600, 200)),
        (0, True, (1, 1)),
        (0.353, False, (0.4, 0.1)),
        (0.06, False, (0.06, 0.02)),
    ],
)
def test_value_axes_end_on_round_steps(peak, whole, expected):
    from spoo_export_plugin.formats._svg import nice_scale

    top, step = nice_scale(peak, whole=whole)
    assert (round(top, 6), round(step, 6)) == expected
