"""Session keys as MongoDB field names: a reversible escaping.

Each session key becomes one field of the document's ``data`` sub-document, so a
delta write can name it in an update path (``{"$set": {"data.<name>": ...}}``).
Update paths give ``.`` (a path separator) and a leading ``$`` (an operator)
meaning, refuse empty components, and BSON names cannot hold a NUL byte.  So:

- ``%``, ``.``, ``$``, the space and the ASCII control characters (NUL, tab,
  newline...: some servers, FerretDB among them, trim or refuse them in update
  paths) are percent-encoded (``%25``, ``%2E``, ``%24``, ``%20``, ``%00``, ``%09``...
  ``%7F``);
- the empty key becomes a lone ``%``, which no encoded key can be (every ``%``
  an encoded key holds starts one of the escapes above).

Everything else, including non-ASCII text, is kept as it is, so the stored
documents stay readable in a MongoDB shell.
"""

from __future__ import annotations

import re

__all__ = ["escape_field", "unescape_field"]

_NEEDS_ESCAPE = re.compile(r"[%.$\x00-\x20\x7f]")
_ESCAPED = re.compile(r"%(?:25|2E|24|[01][0-9A-F]|20|7F)")
#: The field name the empty session key is stored under.
EMPTY_NAME = "%"


def escape_field(key: str) -> str:
    """The field name a session key is stored under."""
    if not key:
        return EMPTY_NAME
    return _NEEDS_ESCAPE.sub(lambda match: f"%{ord(match.group()):02X}", key)


def unescape_field(name: str) -> str:
    """The session key stored under a field name: the inverse of :func:`escape_field`."""
    if "%" not in name:  # the common case: nothing was escaped
        return name
    if name == EMPTY_NAME:
        return ""
    return _ESCAPED.sub(lambda match: chr(int(match.group()[1:], 16)), name)
