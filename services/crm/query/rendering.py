"""JSON or spreadsheet-safe CSV from the same rows; the freshness of the data on both."""

from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from typing import Any, Literal

import orjson
from fastapi import Response
from fastapi.responses import StreamingResponse

from crm.query.csv_export import flatten, to_csv
from crm.query.freshness import Freshness

OutputFormat = Literal["json", "csv"]


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
    output: OutputFormat,
    body: dict[str, Any],
    freshness: Freshness,
    *,
    rows: Sequence[Mapping[str, Any]] | None = None,
    columns: Sequence[str] | None = None,
    filename: str = "export",
) -> Response:
    """`body` (plus its freshness) as JSON, or `rows` (default: the flattened body) as CSV.

    A CSV page carries the next cursor and the total in headers, as it has no room for them.
    """
    if output == "json":
        return json_response({**body, "freshness": freshness.as_dict()})
    flat_rows = [flatten(row) for row in (rows if rows is not None else [body])]
    if columns is None:
        names: dict[str, None] = {}
        for row in flat_rows:
            names.update(dict.fromkeys(row))
        columns = list(names)
    headers = {"Content-Disposition": f'attachment; filename="{filename}.csv"'}
    if "next" in body:
        headers["X-CRM-Next-Cursor"] = body["next"] or ""
    if "total" in body:
        headers["X-CRM-Total"] = str(body["total"])
    return Response(to_csv(flat_rows, columns), headers=headers, media_type="text/csv; charset=utf-8")


def stream_csv(
    batches: AsyncIterable[Sequence[Mapping[str, Any]]], columns: Sequence[str], *, filename: str
) -> StreamingResponse:
    """CSV written batch by batch as the rows come, never held whole (an SME's whole timeline)."""

    async def body() -> AsyncIterator[str]:
        yield to_csv([], columns)
        async for batch in batches:
            yield to_csv([flatten(row) for row in batch], columns, header=False)

    headers = {"Content-Disposition": f'attachment; filename="{filename}.csv"'}
    return StreamingResponse(body(), headers=headers, media_type="text/csv; charset=utf-8")
