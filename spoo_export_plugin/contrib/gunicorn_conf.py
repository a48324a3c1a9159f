"""gunicorn config for a host app that mounts the export plugin with ExportMiddleware.

    gunicorn -c python:spoo_export_plugin.contrib.gunicorn_conf 'myhost:app'

(or copy this file and pass ``-c gunicorn_conf.py``). ``myhost.app`` is the host's WSGI app
wrapped once at import time::

    from spoo_export_plugin import ExportMiddleware, ExportSettings
    app.wsgi_app = ExportMiddleware(app.wsgi_app, ExportSettings.from_env())   # Flask
    app = ExportMiddleware(app, ExportSettings.from_env())                       # any WSGI app

Server options come from the same ``SPOO_EXPORT_*`` variables as ``spoo-export serve``
(``SPOO_EXPORT_BIND``, ``SPOO_EXPORT_WORKERS``, ``SPOO_EXPORT_THREADS``, ``SPOO_EXPORT_TIMEOUT``,
...), with the same defaults. Do not use ``preload_app``: the plugin opens its MongoDB
client lazily, in each worker after the fork, and pymongo clients must not cross a fork.
"""

import logging as _logging
import os as _os

from spoo_export_plugin.ops.serve import configure_logging as _configure_logging
from spoo_export_plugin.ops.serve import fit_open_files as _fit_open_files
from spoo_export_plugin.ops.serve import gunicorn_options as _gunicorn_options

_options = _gunicorn_options(_os.environ)

bind = _options["bind"]
workers = _options["workers"]
threads = _options["threads"]
# lowered at start to fit the open-file limit (see on_starting)
worker_connections = _options["worker_connections"]
# gthread with request heads gathered in the main loop, idle and body limits on every thread's socket
# and shedding at the connection limit (spoo_export_plugin.ops.worker): SPOO_EXPORT_HEADER_TIMEOUT,
# SPOO_EXPORT_SEND_TIMEOUT_SECONDS, SPOO_EXPORT_BODY_TIMEOUT, SPOO_EXPORT_BODY_MIN_RATE.
worker_class = _options["worker_class"]
timeout = _options["timeout"]
graceful_timeout = _options["graceful_timeout"]
keepalive = _options["keepalive"]
max_requests = _options["max_requests"]
max_requests_jitter = _options["max_requests_jitter"]
accesslog = _options["accesslog"]  # off by default: access logs hold client IPs
loglevel = _options["loglevel"]
proc_name = "spoo-export-host"
# gunicorn 25.1+ otherwise opens a control socket (creating ~/.gunicorn/); older versions ignore this.
control_socket_disable = True
preload_app = False


def on_starting(server):
    """The plugin's log lines (one JSON object per export) to stderr beside gunicorn's; the soft
    open-file limit raised to the hard one and worker_connections fitted into it, before the fork."""
    _configure_logging(loglevel)
    fitted, warning = _fit_open_files(server.cfg.worker_connections, server.cfg.threads)
    if warning:
        server.cfg.set("worker_connections", fitted)
        _logging.getLogger("spoo_export_plugin.server").warning(warning)
