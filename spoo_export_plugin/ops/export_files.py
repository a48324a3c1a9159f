"""An export file without the endpoint: the report or raw clicks an operator may read (no access
check), written atomically, each failure one line on stderr and its exit code.

What ``spoo-export export`` does once its flags are a validated request (:mod:`.cli_export`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import IO, Any

from ..core.clicks import ClickExporter
from ..core.exceptions import BadRequest, ExportError, NotFound
from ..core.report.click_rows import ClickExport
from ..core.report.filenames import clicks_filename, export_filename
from ..core.report.report import Report
from ..core.report.timebudget import budgeted_body, render_budget
from ..core.request.params import ExportRequest
from ..core.request.query_values import is_object_id
from ..core.service import Exporter, resolve_url
from ..core.settings import ExportSettings
from ..formats import FORMATS
from .progress import Progress

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def operator_report(exporter: Exporter, request: ExportRequest, owner: Any, url_id: str | None = None) -> Report:
    """The endpoint's report without the access check: the operator may read everything."""
    url = None
    if url_id is not None:  # one link by id, as its owner would get it from the per-link route
        url = exporter.store.find_url_by_id(url_id) if is_object_id(url_id) else None
        if url is None:
            raise NotFound(f"no short URL with id {url_id[:64]!r}", "url_id")
        request = exporter.for_link(request, url)
        return exporter.run(request, exporter.query_spec(request, url.owner_id, url))
    if request.scope == "anon":
        url = resolve_url(exporter.store, request.short_codes[0], request.domain)
    return exporter.run(request, exporter.query_spec(request, owner, url))


def write_file(
    report: Report, settings: ExportSettings, fmt_name: str, output: str | None, progress: Progress
) -> tuple[str, int]:
    """Render into ``output`` atomically (a temporary file renamed at the end); return (path, bytes)."""
    fmt = FORMATS[fmt_name]
    chunks = budgeted_body(fmt.render(report, settings), render_budget(settings))
    return write_atomically(chunks, output or export_filename(report, fmt.extension), progress)


def write_atomically(chunks: Iterable[bytes], path: str, progress: Progress) -> tuple[str, int]:
    """Write ``chunks`` to ``path`` ('-' = standard output) atomically; return (path, bytes)."""
    if path == "-":
        sink = sys.stdout.buffer
        for chunk in chunks:
            sink.write(chunk)
            progress.add_bytes(len(chunk))
        sink.flush()
        return "-", progress.bytes
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".spoo-export-", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as sink:
            for chunk in chunks:
                sink.write(chunk)
                progress.add_bytes(len(chunk))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would make it (mkstemp makes 0600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path, progress.bytes


def flag_for(param: str | None) -> str:
    if param in (None, "Authorization"):
        return ""
    return f" (--{param.replace('_', '-')})"


def fail(stream: IO[str], message: str, code: int) -> int:
    stream.write(f"spoo-export: error: {' '.join(message.split())}\n")
    return code


def operator_clicks(exporter: Exporter, request: ExportRequest, owner: Any, url_id: str | None = None) -> ClickExport:
    """The raw-click export without the access check (the operator may read every owner's clicks)."""
    url = None
    if url_id is not None:
        url = exporter.store.find_url_by_id(url_id) if is_object_id(url_id) else None
        if url is None:
            raise NotFound(f"no short URL with id {url_id[:64]!r}", "url_id")
        request = exporter.for_link(request, url)
        owner = url.owner_id
    elif request.scope == "anon":
        url = resolve_url(exporter.store, request.short_codes[0], request.domain)
    clicks = ClickExporter(exporter)
    return clicks.export(request, clicks.query_spec(request, owner, url))


def write_clicks_file(
    export: ClickExport, settings: ExportSettings, fmt_name: str, output: str | None, progress: Progress
) -> tuple[str, int]:
    """:func:`write_file` for raw clicks: the format's ``render_clicks``, the ``spoo-export_clicks_...`` name."""
    fmt = FORMATS[fmt_name]
    return write_atomically(
        fmt.write_clicks(export, settings), output or clicks_filename(export, fmt.extension), progress
    )


def produce_and_write(
    err: Any, progress: Progress, phase: str, produce: Callable[[], Any], write: Callable[[Any], tuple[str, int]]
) -> int | tuple[Any, str, int]:
    """Run an export (``phase`` on the progress line), then write its file: (export, path, size),
    or the exit code after one line on stderr (bad input 2, failure 1, interrupted 130)."""
    try:
        with progress:
            progress.set_phase(phase)
            produced = produce()
            progress.set_phase("writing")
            path, size = write(produced)
    except BadRequest as exc:
        return fail(err, exc.message + flag_for(exc.param), EXIT_BAD_INPUT)
    except ExportError as exc:
        return fail(err, exc.message + flag_for(exc.param), EXIT_FAILED)
    except OSError as exc:
        return fail(err, f"cannot write the file: {exc.strerror or exc}", EXIT_FAILED)
    except KeyboardInterrupt:
        return fail(err, "interrupted; no file written", 130)
    return produced, path, size
