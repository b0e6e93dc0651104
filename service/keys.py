"""Every object the app shares between handlers, as a typed `web.AppKey`, in one place."""

from __future__ import annotations

import asyncio

from aiohttp import web

from canonry.service.acceptance import GroupCommit
from canonry.service.backends import Backends
from canonry.service.config import Settings
from canonry.service.reads import Reads
from canonry.workers.ports import DedupIndex, Store, WorkQueue

SETTINGS = web.AppKey("settings", Settings)
BACKENDS = web.AppKey("backends", Backends)
STORE = web.AppKey("store", Store)
READS = web.AppKey("reads", Reads)
QUEUE = web.AppKey("queue", WorkQueue)
INDEX = web.AppKey("index", DedupIndex)
ACCEPTANCE = web.AppKey("acceptance", GroupCommit)
# (method, path template) → the API-key scope it needs; None: open (service/auth.py)
SCOPES = web.AppKey("scopes", dict)
# Set when the app shuts down: long-lived responses (GET /events streams) end at once.
STOPPING = web.AppKey("stopping", asyncio.Event)
