"""Every object the app shares between handlers, as a typed `web.AppKey`, in one place."""

from __future__ import annotations

import asyncio

from aiohttp import web

from canonry.service.acceptance import GroupCommit
from canonry.service.auth import Authenticator
from canonry.service.backends import Backends
from canonry.service.config import Settings
from canonry.service.reads import Reads
from canonry.service.ui.queries import UiQueries
from canonry.workers.ports import DedupIndex, Store, WorkQueue

SETTINGS = web.AppKey("settings", Settings)
BACKENDS = web.AppKey("backends", Backends)
STORE = web.AppKey("store", Store)
READS = web.AppKey("reads", Reads)
UI_QUERIES = web.AppKey("ui_queries", UiQueries)
# The keys the service checks; None: it runs open (no CANONRY_API_KEYS).
AUTHENTICATOR = web.AppKey("authenticator", Authenticator | None)  # type: ignore[arg-type]
QUEUE = web.AppKey("queue", WorkQueue)
INDEX = web.AppKey("index", DedupIndex)
ACCEPTANCE = web.AppKey("acceptance", GroupCommit)
# (method, path template) → the API-key scope it needs; None: open (service/auth.py)
SCOPES = web.AppKey("scopes", dict)
# Set when the app shuts down: long-lived responses (GET /events streams) end at once.
STOPPING = web.AppKey("stopping", asyncio.Event)
