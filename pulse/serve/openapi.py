"""The report API's OpenAPI 3.1 description, built from the reports it serves now: each
report is a path of its own, its columns the filters, so a client generator or a person
reading /api/v1/openapi.json sees every report and what it accepts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .catalog import RANGE_KINDS, ApiReport
from .query import DEFAULT_LIMIT, FORMATS, MAX_LIMIT, MAX_OFFSET, RANGES

_SCHEMAS = {"integer": {"type": "integer"}, "number": {"type": "number"},
            "boolean": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
            "timestamp": {"type": "string", "format": "date-time"}, "text": {"type": "string"}}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"},
                                           "status": {"type": "integer"}}}


def openapi_document(reports: Iterable[ApiReport]) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/v1/reports": {"get": {
            "summary": "Every report: its columns, types, descriptions, row count and "
                       "when it was refreshed",
            "operationId": "listReports",
            "responses": {"200": {"description": "the reports"}, **_errors("401", "429")},
        }},
    }
    for report in sorted(reports, key=lambda r: r.name):
        paths[f"/api/v1/reports/{report.name}"] = {"get": {
            "summary": report.title,
            "description": report.description,
            "operationId": f"get_{report.name}",
            "parameters": [*_filters(report), *_paging(report)],
            "responses": {
                "200": {"description": "the matching rows (JSON: total, rows, next; CSV: a "
                        "header and the rows)", "headers": {
                            "ETag": {"schema": {"type": "string"}},
                            "Last-Modified": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": _rows_schema(report)},
                                    "text/csv": {"schema": {"type": "string"}}}},
                "304": {"description": "unchanged since If-None-Match / If-Modified-Since"},
                **_errors("400", "401", "403", "429"),
            },
        }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pulse report API", "version": "1",
                 "description": "Read-only access to Pulse's report marts. Every request "
                 "needs an API key: `Authorization: Bearer <key>`."},
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Error": _ERROR}},
        "security": [{"apiKey": []}],
        "paths": paths,
    }


def _filters(report: ApiReport) -> list[dict[str, Any]]:
    parameters = []
    for column in report.columns:
        schema = _SCHEMAS[column.kind]
        parameters.append({"name": column.name, "in": "query", "required": False,
                           "description": f"equal to (repeat for any of several). "
                           f"{column.description}".strip(),
                           "schema": {"type": "array", "items": schema},
                           "style": "form", "explode": True})
        if column.kind in RANGE_KINDS:
            parameters += [{"name": f"{column.name}__{op}", "in": "query", "required": False,
                            "description": f"{column.name} {sign} this", "schema": schema}
                           for op, sign in RANGES.items()]
    return parameters


def _paging(report: ApiReport) -> list[dict[str, Any]]:
    names = [c.name for c in report.columns]
    return [
        {"name": "order", "in": "query", "required": False,
         "description": "columns to sort by, comma-separated; a leading - sorts descending",
         "schema": {"type": "string"}, "example": f"-{names[0]}"},
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                    "default": DEFAULT_LIMIT}},
        {"name": "offset", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}},
        {"name": "format", "in": "query", "required": False,
         "schema": {"type": "string", "enum": list(FORMATS), "default": "json"}},
    ]


def _rows_schema(report: ApiReport) -> dict[str, Any]:
    row = {"type": "object", "properties": {
        c.name: {**_SCHEMAS[c.kind], "description": c.description} for c in report.columns}}
    return {"type": "object", "properties": {
        "report": {"type": "string"}, "refreshed_at": {"type": ["string", "null"]},
        "total": {"type": "integer"}, "limit": {"type": "integer"},
        "offset": {"type": "integer"}, "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": row}, "next": {"type": ["string", "null"]}}}


def _errors(*statuses: str) -> dict[str, Any]:
    said = {"400": "a filter, order or paging value the API refuses, with the reason",
            "401": "no API key, or not a valid one", "403": "no such report for this key",
            "429": "over this key's rate limit; Retry-After says when to come back"}
    return {status: {"description": said[status], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for status in statuses}
