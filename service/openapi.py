"""/openapi.json, generated from the route table and the pydantic models."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from canonry.schemas.api import Problem
from canonry.service.routes import ROUTES, Route

_PATH_PARAM = re.compile(r"{(\w+)}")


def _ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _schema(models: tuple[type[BaseModel], ...], components: dict[str, Any]) -> dict[str, Any]:
    refs = [_ref(model, components) for model in models]
    return refs[0] if len(refs) == 1 else {"oneOf": refs}


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": route.summary, "operationId": route.handler.__name__}
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in _PATH_PARAM.findall(route.path)]
    params += [{"name": name, "in": "query", "required": False, "description": text,
                "schema": {"type": "string"}} for name, text in route.query.items()]
    if params:
        operation["parameters"] = params
    if route.request:
        content = {"application/json": {"schema": _schema(route.request, components)}}
        if route.ndjson:
            content["application/x-ndjson"] = {"schema": {"type": "string"}}
        operation["requestBody"] = {"required": True, "content": content}
    ok: dict[str, Any] = {"description": "OK" if route.status == 200 else "Accepted"}
    if route.response:
        ok["content"] = {"application/json": {"schema": _schema(route.response, components)}}
    responses: dict[str, Any] = {str(route.status): ok}
    problem = {"application/problem+json": {"schema": _ref(Problem, components)}}
    for status in route.errors:
        responses[str(status)] = {"description": "Problem Details", "content": problem}
    operation["responses"] = responses
    return operation


def build_spec() -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    paths["/openapi.json"] = {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": {"description": "OK"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Canonry", "version": "1",
                 "description": "Deduplicating news ingestion: each story once, with provenance."},
        "paths": paths,
        "components": {"schemas": components},
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec())
