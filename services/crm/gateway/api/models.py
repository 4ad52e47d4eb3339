"""Wire models of the gateway's responses (docs/contract.md "HTTP"); not the event contract."""

from pydantic import BaseModel


class Accepted(BaseModel):
    accepted: int


class EventProblem(BaseModel):
    index: int
    field: str
    message: str


class EventProblems(BaseModel):
    """422: every problem of the request, located by index in the request and dotted field path."""

    errors: list[EventProblem]


class Refusal(BaseModel):
    """401, 403, 413, 415, 503: why, in one sentence. 403 also locates the foreign events."""

    detail: str
    errors: list[EventProblem] | None = None


class Health(BaseModel):
    status: str
    kafka: str | None = None
