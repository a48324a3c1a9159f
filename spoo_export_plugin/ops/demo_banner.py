"""What ``spoo-export demo`` prints: the dataset in a few lines, then curl commands ready to paste."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlencode

from .demo_data import DemoDataset

DASHBOARD_GROUP_BY = "time,browser,os,country,city,referrer,short_code"
#: The plugin's default route, where the demo mounts it.
DEMO_ROUTE = "/api/v1/export"


def demo_url(base_url: str, route: str, **params: str) -> str:
    return f"{base_url}{route}?{urlencode(params, safe=',/', quote_via=quote)}"


def link_route(route: str, url_id: str) -> str:
    """``<route>/links/<url_id>``: one link's statistics, by its id."""
    return f"{route.rstrip('/')}/links/{url_id}"


def curl_commands(dataset: DemoDataset, base_url: str, route: str = "/api/v1/export") -> list[tuple[str, str]]:
    """(what it shows, command) pairs, ready to paste.

    Each fails loudly (``-f``: an HTTP error is curl's exit code 22 and a message, never an error
    body saved as the file) and files go to a name given with ``-o``, so running a command twice
    overwrites its file instead of failing (``-OJ`` refuses to, exit 23). The one meant to show a
    refusal prints the status line and headers (``-i``) with the JSON error.
    """
    auth = f"-H 'Authorization: Bearer {dataset.api_key}'"
    chrome_or_safari = '{"browser":["Chrome","Safari"]}'
    requests = [
        ("all links of the demo owner, JSON", "-fsS " + auth, dict(format="json", scope="all")),
        (
            "the same as a ZIP of CSV files, saved as stats.zip",
            "-fsS -o stats.zip " + auth,
            dict(format="csv", scope="all", group_by="time,browser,country"),
        ),
        (
            "an Excel workbook, one sheet per breakdown, in New York time, saved as stats.xlsx",
            "-fsS -o stats.xlsx " + auth,
            dict(format="xlsx", scope="all", group_by="time,country,referrer", timezone="America/New_York"),
        ),
        (
            "a report page with charts to open in a browser (no script, prints to PDF), saved as report.html",
            "-fsS -o report.html " + auth,
            dict(format="html", scope="all", group_by="time,browser,country,referrer"),
        ),
        (
            "XML of one link, by week, bots left out",
            "-fsS " + auth,
            dict(format="xml", scope="all", short_code=dataset.public_code, granularity="week", exclude_bots="true"),
        ),
        (
            f"public stats of /{dataset.public_code} without a key (scope=anon)",
            "-fsS",
            dict(format="json", scope="anon", short_code=dataset.public_code, group_by="time,browser"),
        ),
        (
            f"the emoji link /{dataset.emoji_code}, clicks from Chrome or Safari by country",
            "-fsS",
            dict(
                format="json", scope="anon", short_code=dataset.emoji_code, group_by="country", filters=chrome_or_safari
            ),
        ),
        (
            f"/{dataset.private_code} has private stats: 401 without its owner's key (status, headers, error)",
            "-sS -i",
            dict(format="json", scope="anon", short_code=dataset.private_code),
        ),
        (
            "spoo.me's dashboard request: all seven dimensions at once, timed, saved as dashboard.json",
            "-fsS -o dashboard.json -w '%{http_code} %{time_total}s\\n' " + auth,
            dict(format="json", scope="all", group_by=DASHBOARD_GROUP_BY),
        ),
    ]
    commands = [(what, f"curl {options} '{demo_url(base_url, route, **params)}'") for what, options, params in requests]
    link = demo_url(base_url, link_route(route, dataset.public_url_id), format="json", group_by="time,browser")
    commands.insert(
        5,
        (
            f"one link by its url_id (/{dataset.public_code}, the id printed above): "  # after its XML
            f"{link_route('<route>', '<url_id>')}, JSON",
            f"curl -fsS {auth} '{link}'",
        ),
    )
    return commands


def banner(dataset: DemoDataset, base_url: str, route: str = "/api/v1/export", jobs_part: Sequence[str] = ()) -> str:
    lines = [
        "",
        f"spoo_export_plugin demo on {base_url}/  (Ctrl-C stops it)",
        f"  data: {len(dataset.collections['urlsV2'])} links + 1 legacy link, {len(dataset.collections['clicks'])} "
        f"clicks from {dataset.start:%Y-%m-%d} to {dataset.anchor:%Y-%m-%d %H:%M} UTC (in memory, mongomock)",
        f"  API key of the demo owner (scope stats:read): {dataset.api_key}",
        f"  url_id of its link /{dataset.public_code} (for {link_route(route, '<url_id>')}): {dataset.public_url_id}",
        "",
    ]
    for what, command in curl_commands(dataset, base_url, route):
        lines += [f"# {what}", command, ""]
    return "\n".join([*lines, *jobs_part])
