"""/openapi.json, generated from the route table and the pydantic models."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from canonry.schemas.api import NUL_FREE_JSON, NUL_FREE_MARK, NUL_FREE_OBJECT, Problem
from canonry.service.auth import ANY_KEY
from canonry.service.keys import SCOPES
from canonry.service.routes import ROUTES, Route

_PATH_PARAM = re.compile(r"{(\w+)}")
_DESCRIPTIONS = {200: "OK", 202: "Accepted", 303: "See Other: the page to go to"}


def _nul_free(schema: dict[str, Any]) -> None:
    """Fields marked NUL_FREE_MARK (free-form JSON objects) become NUL-free JSON objects."""
    for name, field in schema.get("properties", {}).items():
        if field.pop(NUL_FREE_MARK, False):
            nullable = {"type": "null"} in field.get("anyOf", [])
            schema["properties"][name] = {
                "anyOf": [NUL_FREE_OBJECT, {"type": "null"}] if nullable else [NUL_FREE_OBJECT],
                **{k: v for k, v in field.items() if k in ("description", "title", "default")}}


def _ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for definition in [schema, *schema.get("$defs", {}).values()]:
        _nul_free(definition)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _schema(models: tuple[type[BaseModel], ...], components: dict[str, Any]) -> dict[str, Any]:
    refs = [_ref(model, components) for model in models]
    return refs[0] if len(refs) == 1 else {"oneOf": refs}


# Either header carries the same key; the scope a route needs is named in its description.
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "Authorization: Bearer KEY (CANONRY_API_KEYS)"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "X-API-Key: KEY (CANONRY_API_KEYS)"},
}


def _security(scope: str | None) -> list[dict[str, list[str]]]:
    if scope is None:
        return []  # open
    scopes = [] if scope == ANY_KEY else [scope]
    return [{"bearer": scopes}, {"apiKey": scopes}]


def _operation(route: Route, components: dict[str, Any], scope: str | None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": route.summary, "operationId": route.handler.__name__,
                                 "security": _security(scope)}
    if scope is not None:
        needs = "any valid API key" if scope == ANY_KEY else f"an API key with scope `{scope}`"
        operation["description"] = f"Needs {needs} when CANONRY_API_KEYS is set."
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in _PATH_PARAM.findall(route.path)]
    params += [{"name": name, "in": "query", "required": param.required,
                "description": param.description, "schema": param.schema}
               for name, param in route.query.items()]
    if params:
        operation["parameters"] = params
    if route.request:
        content = {"application/json": {"schema": _schema(route.request, components)}}
        if route.ndjson:
            content["application/x-ndjson"] = {"schema": {"type": "string"}}
        operation["requestBody"] = {"required": True, "content": content}
    if route.form:
        operation["requestBody"] = {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": route.form}}}
    ok: dict[str, Any] = {"description": _DESCRIPTIONS[route.status]}
    if route.response:
        ok["content"] = {"application/json": {"schema": _schema(route.response, components)}}
    if route.html:
        ok["content"] = {"text/html": {"schema": {"type": "string"}}}
    if route.sse:
        ok["content"]["text/event-stream"] = {"schema": {
            "type": "string", "description": "`id: <seq>`, `event: <type>`, `data: <event JSON>`"}}
    responses: dict[str, Any] = {str(route.status): ok}
    if route.see_other:
        responses["303"] = {"description": "See Other: the page to go to", "headers": {
            "Location": {"schema": {"type": "string"}}}}
    problem: dict[str, Any] = {"application/problem+json": {"schema": _ref(Problem, components)}}
    if route.html:  # a browser (Accept: text/html) gets the error as a page
        problem["text/html"] = {"schema": {"type": "string"}}
    errors = set(route.errors) | ({401, 403} if scope is not None else set())
    for status in sorted(errors):
        responses[str(status)] = {"description": "Problem Details", "content": problem}
    operation["responses"] = responses
    return operation


def build_spec(scopes: dict[tuple[str, str], str | None] | None = None) -> dict[str, Any]:
    """The spec; `scopes` overrides a route's scope (the app's /metrics setting)."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for route in ROUTES:
        scope = (scopes or {}).get((route.method, route.path), route.scope)
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route, components, scope)
    paths["/openapi.json"] = {"get": {
        "summary": "This document", "operationId": "openapi", "security": _security(ANY_KEY),
        "responses": {"200": {"description": "OK"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Canonry", "version": "1",
                 "description": "Deduplicating news ingestion: each story once, with provenance."},
        "paths": paths,
        "components": {"schemas": {**components, "NulFreeJson": NUL_FREE_JSON},
                       "securitySchemes": SECURITY_SCHEMES},
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app[SCOPES]))
