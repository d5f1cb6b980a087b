"""The root of every error this project raises on purpose.

Callers at the edges (CLI, gRPC, web UI) catch ``ObeliskError`` and show its message; anything else is a bug
and is logged with its traceback.
"""


class ObeliskError(Exception):
    """A failure with a message meant for the user: it names the thing that is wrong."""


class ParseError(ObeliskError, ValueError):
    """A textual identifier (FFQN, execution id, ...) is malformed."""
