"""The eyeballing web app (`medgen errors serve`): look at eyeball-set errors, tag them, watch
the tally and the eyeball-vs-blackbox history, over the project's SQLite store."""

from __future__ import annotations

from medgen.errors.web.app import create_app
from medgen.errors.web.guard import allowed_hosts_for, is_loopback, listen_socket

__all__ = ["allowed_hosts_for", "create_app", "is_loopback", "listen_socket"]
