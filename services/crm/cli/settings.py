"""The settings a `crm` command works with: the `CRM_*` environment, and for Kafka and PostgreSQL
left unset, the stack that `crm up` (or `crm demo`) runs, from its stack file.

Explicit settings always win; a stale stack file (its run was killed) is never trusted.
"""

from pathlib import Path

from crm.errors import InfrastructureError
from crm.local.paths import project_root
from crm.local.stack_file import StackFile, StackState, read_stack_file, stack_file_path
from crm.settings import Settings

START_HINT = "start it with `make up` (or `crm up`) from the project directory"


def cli_settings() -> Settings:
    """`Settings()`, with the running stack's Kafka and PostgreSQL where those are unset."""
    settings = Settings()
    if settings.kafka_bootstrap and settings.database_url:
        return settings
    state, stack = find_stack(settings)
    if state != "running" or stack is None:
        return settings
    updates: dict[str, str | None] = {}
    if not settings.kafka_bootstrap:
        updates["kafka_bootstrap"] = stack.kafka_bootstrap
    if not settings.database_url:
        # The administrator's URL only with the database it administers.
        updates["database_url"] = stack.database_url
        updates["database_admin_url"] = settings.database_admin_url or stack.database_admin_url
    return settings.model_copy(update=updates)


def find_stack(settings: Settings) -> tuple[StackState, StackFile | None]:
    """The stack file of the state directory; with the default (relative) state directory, also
    the project checkout's, so `.venv/bin/crm` finds the stack from another directory too."""
    found: tuple[StackState, StackFile | None] = ("absent", None)
    for directory in _state_dirs(settings):
        found = read_stack_file(stack_file_path(directory))
        if found[0] != "absent":
            return found
    return found


def _state_dirs(settings: Settings) -> list[Path]:
    directories = [settings.state_dir]
    if "state_dir" not in settings.model_fields_set and not settings.state_dir.is_absolute():
        checkout = project_root() / settings.state_dir
        if checkout.resolve() != settings.state_dir.resolve():
            directories.append(checkout)
    return directories


def require_database(settings: Settings, holding: str = "the read models") -> str:
    """The database URL, or one line saying that no stack runs and how to start one."""
    if settings.database_url:
        return settings.database_url
    raise InfrastructureError(
        f"{_no_stack(settings)}; {START_HINT}, or set CRM_DATABASE_URL to the database holding {holding}."
    )


def require_kafka(settings: Settings) -> str:
    """The Kafka bootstrap servers, or one line saying that no stack runs and how to start one."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap
    raise InfrastructureError(f"{_no_stack(settings)}; {START_HINT}, or set CRM_KAFKA_BOOTSTRAP.")


def _no_stack(settings: Settings) -> str:
    state, _ = find_stack(settings)
    if state == "stale":
        return "no stack is running (the stack file left by an earlier run is stale)"
    return "no stack is running"
