"""JSON, spreadsheet-safe CSV or XLSX from the same rows; the freshness of the data on each.

A page, a figure or an SME is rendered whole in memory: it is small. A whole list (`all=true`)
is an export: CSV is streamed as the rows come from PostgreSQL's cursor, never held whole; XLSX
is written row by row to a temporary file (XlsxWriter's constant memory) and then sent.
"""

import asyncio
import io
import os
import tempfile
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.types import Receive, Scope, Send

from crm.query.csv_export import flatten, to_csv
from crm.query.freshness import Freshness
from crm.query.negotiation import Representation
from crm.query.spreadsheets import SheetWriter

BOM = "\ufeff"
"""A UTF-8 byte-order mark: Excel reads a CSV starting with it as UTF-8 (else "HÃ¤rmÃ¤lÃ¤")."""
VARY = {"Vary": "Accept"}


def json_response(
    body: Mapping[str, Any], status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body, default=_plain, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS),
        status_code,
        headers=dict(headers or {}),
        media_type="application/json",
    )


def _plain(value: Any) -> Any:
    # asyncpg's own UUID type, and anything else with an exact text form (Decimal).
    return str(value)


def render(
    output: Representation,
    body: dict[str, Any],
    freshness: Freshness | None,
    *,
    rows: Sequence[Mapping[str, Any]] | None = None,
    columns: Sequence[str] | None = None,
    filename: str = "export",
    etag: str | None = None,
) -> Response:
    """`body` (plus its freshness, when given) as JSON, or `rows` (default: the flattened body) as
    CSV or XLSX; `etag` (crm/query/etags.py) on figures.

    A page of CSV or XLSX carries the next cursor and the total in headers, as it has no room for them.
    """
    headers = dict(VARY)
    if etag is not None:
        headers |= _validators(etag)
    if output.format == "json":
        return json_response({**body, "freshness": freshness.as_dict()} if freshness else body, headers=headers)
    flat_rows = [flatten(row) for row in (rows if rows is not None else [body])]
    if columns is None:
        names: dict[str, None] = {}
        for row in flat_rows:
            names.update(dict.fromkeys(row))
        columns = list(names)
    headers["Content-Disposition"] = f'attachment; filename="{filename}.{output.format}"'
    if "next" in body:
        headers["X-CRM-Next-Cursor"] = body["next"] or ""
    if "total" in body:
        headers["X-CRM-Total"] = str(body["total"])
    if output.format == "csv":
        text = (BOM if output.bom else "") + to_csv(flat_rows, columns)
        return Response(text, headers=headers, media_type=output.media_type)
    workbook = io.BytesIO()
    writer = SheetWriter(workbook, columns, title=filename, in_memory=True)
    writer.write(flat_rows)
    writer.close()
    return Response(workbook.getvalue(), headers=headers, media_type=output.media_type)


def not_modified(etag: str) -> Response:
    """304: the client's copy of the figures (tagged `etag`) is current; no body."""
    return Response(status_code=304, headers=VARY | _validators(etag))


def _validators(etag: str) -> dict[str, str]:
    # Figures are per caller (a token's scope): no shared cache keeps them, and a private one asks first.
    return {"ETag": etag, "Cache-Control": "private, no-cache"}


async def export(
    output: Representation,
    batches: AsyncGenerator[Sequence[Any]],
    columns: Sequence[str],
    *,
    filename: str,
    shape: Callable[[Any], Mapping[str, Any]] | None = None,
) -> Response:
    """A whole list as CSV (streamed) or XLSX (a file), batch by batch as the rows come, each
    row made a mapping of `columns` by `shape` (None: the rows are mappings already).

    The first batch is read before answering, so a database away is a 503, not a cut 200. A
    failure later cuts the transfer (the client sees an incomplete response, never a short file
    that looks whole).
    """
    headers = VARY | {"Content-Disposition": f'attachment; filename="{filename}.{output.format}"'}
    if output.format == "xlsx":
        return await _xlsx_file(batches, columns, filename, headers, shape)
    first = await anext(batches, None)

    async def body() -> AsyncGenerator[bytes]:
        try:
            yield ((BOM if output.bom else "") + to_csv([], columns)).encode()
            if first is None:
                return
            yield to_csv(_shaped(first, shape), columns, header=False).encode()
            async for batch in batches:
                yield to_csv(_shaped(batch, shape), columns, header=False).encode()
        finally:
            await batches.aclose()

    return _ClosingStream(body(), headers=headers, media_type=output.media_type)


def _shaped(batch: Sequence[Any], shape: Callable[[Any], Mapping[str, Any]] | None) -> Iterable[Mapping[str, Any]]:
    return batch if shape is None else map(shape, batch)


class _ClosingStream(StreamingResponse):
    """Closes its body when done, cut or not: a client gone mid-export ends the database cursor
    there and then (before the request's connection goes back to the pool), not when collected."""

    body_iterator: AsyncGenerator[bytes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()


async def _xlsx_file(
    batches: AsyncGenerator[Sequence[Any]],
    columns: Sequence[str],
    title: str,
    headers: dict[str, str],
    shape: Callable[[Any], Mapping[str, Any]] | None,
) -> Response:
    # XlsxWriter is synchronous: each batch is written in a worker thread, the event loop stays free.
    descriptor, path = tempfile.mkstemp(prefix="crm-export-", suffix=".xlsx")
    os.close(descriptor)
    try:
        writer = await asyncio.to_thread(SheetWriter, path, columns, title=title)
        async for batch in batches:
            await asyncio.to_thread(writer.write, _shaped(batch, shape))
        await asyncio.to_thread(writer.close)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        await batches.aclose()
    return FileResponse(
        path,
        headers=headers,
        media_type=Representation("xlsx").media_type,
        background=BackgroundTask(os.unlink, path),
    )
