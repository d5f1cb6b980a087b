"""Webhook endpoints: the HTTP servers of ``[[http_server]]``, their routing, and the executions webhooks start."""
