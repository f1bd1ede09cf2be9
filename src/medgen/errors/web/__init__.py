"""The eyeballing web app (`medgen errors serve`): look at eyeball-set errors, tag them, watch
the tally and the eyeball-vs-blackbox history, over the project's SQLite store."""

from __future__ import annotations

from medgen.errors.web.app import allowed_hosts_for, create_app, is_loopback

__all__ = ["allowed_hosts_for", "create_app", "is_loopback"]
