"""Old path of :mod:`spoo_export_plugin.web.guard` (documented before the package had layers).

Importing it imports the new module and puts it in this one's place in ``sys.modules``, so both
paths name the same module object.
"""

import sys

from .web import guard as _module

sys.modules[__name__] = _module
