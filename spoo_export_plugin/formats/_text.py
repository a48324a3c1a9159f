"""Text hygiene shared by the formats: characters XML 1.0 forbids, and formula triggers.

Not a format: the format modules import it.
"""

from __future__ import annotations

import re

#: Everything outside XML 1.0's ``Char`` production: NUL and the C0 controls but tab, line
#: feed and carriage return; lone surrogates; U+FFFE and U+FFFF. xlsx is XML inside, so
#: the same characters would corrupt a workbook (lxml refuses them, Excel "repairs" them).
XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (a no-op, and cheap, for clean text)."""
    return XML_ILLEGAL.sub("", text) if XML_ILLEGAL.search(text) else text


#: First characters that make a spreadsheet treat a CSV cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = frozenset("=+-@\t\r")


def neutralise(value: str) -> str:
    """OWASP's advice for CSV cells: a leading formula trigger gets a single quote before it."""
    return "'" + value if value[:1] in FORMULA_TRIGGERS else value
