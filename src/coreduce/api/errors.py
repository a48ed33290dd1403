"""One JSON error shape on every route: ``{"error": {"status", "code", "message", "detail"}}``.

404 answers both "absent" and "not yours" (:func:`not_found` has no argument that could tell them apart).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("coreduce.api")


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    detail: Any | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody


class ApiError(Exception):
    """An error answered with the JSON error shape."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def not_found() -> ApiError:
    """The one answer for an id that is absent or belongs to another tenant."""
    return ApiError(404, "not_found", "not found")


def bad_request(message: str, detail: Any = None) -> ApiError:
    return ApiError(400, "bad_request", message, detail)


def body(status: int, code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message, "detail": detail}}


def error_response(status: int, code: str, message: str, detail: Any = None, headers: Any = None) -> JSONResponse:
    return JSONResponse(body(status, code, message, detail), status_code=status, headers=headers)


def _code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def install(app: FastAPI) -> None:
    """Register the handlers that give every error (ours, routing, validation, unexpected) the one shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, exc.detail, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:  # routing: an unknown path reads like an unknown id
            return error_response(404, "not_found", "not found")
        msg = exc.detail if isinstance(exc.detail, str) else _code(exc.status_code).replace("_", " ")
        return error_response(exc.status_code, _code(exc.status_code), msg, None, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        first = errs[0] if errs else {"loc": [], "msg": "invalid request"}
        return error_response(422, "invalid_request", f"{'.'.join(first['loc'])}: {first['msg']}", errs)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"unexpected {type(exc).__name__}")


#: OpenAPI description of the error responses every route may give.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad request"},
    401: {"model": ErrorResponse, "description": "No or bad credentials"},
    403: {"model": ErrorResponse, "description": "The role may not do this"},
    404: {"model": ErrorResponse, "description": "Absent, or not the caller's"},
    422: {"model": ErrorResponse, "description": "Invalid parameters"},
}
