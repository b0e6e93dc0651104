"""`/` and `/docs`: where a person starts (a browser at `/` is sent to the story viewer,
`/ui/`, by `service/ui/session.browser_redirects`). `/docs` renders /openapi.json with
Swagger UI 5, served from the `swagger-ui-py` package's static files (no CDN: the page works
offline and behind any firewall). With API keys set, both take any valid key, like
/openapi.json; the page then sends the key its Authorize dialog is given with every request it
makes.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from aiohttp import web

STATIC_PREFIX = "/docs/static"
STATIC_DIR = Path(str(files("swagger_ui") / "static"))

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Canonry API</title>
  <link rel="stylesheet" href="{STATIC_PREFIX}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{STATIC_PREFIX}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui",
                                 persistAuthorization: true, deepLinking: true}});
  </script>
</body>
</html>
"""


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html")


async def index(request: web.Request) -> web.Response:
    return web.json_response({
        "service": "canonry",
        "docs": "/docs", "openapi": "/openapi.json",
        "health": "/healthz", "ready": "/readyz", "metrics": "/metrics",
        "feed": "/documents", "events": "/events", "viewer": "/ui/",
    })


def add_static(app: web.Application) -> None:
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name="docs-static")
