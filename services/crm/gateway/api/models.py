"""Wire models of the gateway's responses (docs/contract.md "HTTP"); not the event contract.
Its errors are problems (`crm.http_problems.ProblemDetails`)."""

from pydantic import BaseModel, Field


class Accepted(BaseModel):
    accepted: int


class Health(BaseModel):
    status: str
    kafka: str | None = None
    database: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
