"""The web UI: server-rendered pages over ``obelisk.service`` (components, submit, executions, live detail)."""

from obelisk.webui.app import WebUiServer, create_app, start_webui

__all__ = ["WebUiServer", "create_app", "start_webui"]
