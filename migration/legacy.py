"""Reading the old database: psycopg 3, one read-only REPEATABLE READ transaction (one consistent
snapshot for every query), server-side cursors so that memory does not grow with the database.

The generations come in creation order, each with its files and its notifications aggregated by
PostgreSQL (people already mapped to their Clerk ids by joins), so this process holds one batch of
rows at a time, never a table.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import IsolationLevel, conninfo

FETCH_ROWS = 500  # rows per round trip of a server-side cursor

# Every table and column the migration reads; others are ignored.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "User": ("id", "clerkId"),
    "Organization": ("id", "clerkOrgId"),
    "ImageGeneration": (
        "id",
        "authorId",
        "organizationId",
        "prompt",
        "model",
        "numImages",
        "size",
        "status",
        "progress",
        "errorMessage",
        "createdAt",
        "updatedAt",
        "completedAt",
    ),
    "ImageFile": (
        "id",
        "generationId",
        "filename",
        "s3Key",
        "fileSize",
        "format",
        "width",
        "height",
        "aspectRatio",
        "metadata",
        "createdAt",
    ),
    "Notification": ("id", "userId", "type", "title", "message", "metadata", "read", "createdAt"),
}

GENERATIONS = """
SELECT g."id", g."authorId", u."clerkId", g."organizationId", o."clerkOrgId", g."prompt", g."model",
       g."numImages", g."size", g."status"::text, g."progress", g."errorMessage",
       g."createdAt", g."updatedAt", g."completedAt", f.files, n.notifications
FROM "ImageGeneration" g
LEFT JOIN "User" u ON u."id" = g."authorId"
LEFT JOIN "Organization" o ON o."id" = g."organizationId"
LEFT JOIN LATERAL (
    SELECT json_agg(json_build_array(f."id", f."s3Key", f."fileSize", f."format"::text, f."width",
                                     f."height", f."aspectRatio", f."metadata")
                    ORDER BY f."createdAt", f."filename", f."id") AS files
    FROM "ImageFile" f WHERE f."generationId" = g."id"
) f ON true
LEFT JOIN (
    SELECT n."metadata" ->> 'generationId' AS generation_id,
           json_agg(json_build_array(n."id", n."userId", nu."clerkId", n."type"::text, n."title",
                                     n."message", n."read", n."createdAt")
                    ORDER BY n."createdAt", n."id") AS notifications
    FROM "Notification" n LEFT JOIN "User" nu ON nu."id" = n."userId"
    WHERE jsonb_typeof(n."metadata") = 'object'
    GROUP BY 1
) n ON n.generation_id = g."id"
ORDER BY g."createdAt", g."id"
"""

ORPHAN_FILES = """
SELECT f."id", f."generationId" FROM "ImageFile" f
WHERE NOT EXISTS (SELECT 1 FROM "ImageGeneration" g WHERE g."id" = f."generationId")
ORDER BY f."id"
"""

# Notifications that no generation row carries: no metadata, no generationId, or an unknown one.
ORPHAN_NOTIFICATIONS = """
SELECT n."id", n."metadata" ->> 'generationId' FROM "Notification" n
WHERE NOT COALESCE(jsonb_typeof(n."metadata") = 'object' AND EXISTS (
    SELECT 1 FROM "ImageGeneration" g WHERE g."id" = n."metadata" ->> 'generationId'), false)
ORDER BY n."id"
"""


class SourceError(Exception):
    """The database cannot be read as the old system's: one line for the operator."""


@dataclass(frozen=True, slots=True)
class LegacyFile:
    id: str
    s3_key: str
    size_bytes: int
    format: str  # PNG | JPEG | WEBP
    width: int
    height: int
    aspect_ratio: str
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LegacyNotification:
    id: str
    user_id: str
    user_clerk_id: str | None  # None: the User row is missing or has no clerkId
    type: str
    title: str
    message: str
    read: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LegacyGeneration:
    id: str
    author_id: str
    author_clerk_id: str | None
    organization_id: str | None
    organization_clerk_id: str | None
    prompt: str
    model: str
    num_images: int
    size: str
    status: str  # PENDING | PROCESSING | COMPLETED | FAILED
    progress: int
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    files: tuple[LegacyFile, ...]
    notifications: tuple[LegacyNotification, ...]


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def connect(url: str) -> psycopg.Connection[Any]:
    """A read-only, repeatable-read connection (every query sees one snapshot), or SourceError."""
    if not url:
        raise SourceError("DATABASE_URL is required (postgresql://user:password@host:5432/database)")
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise SourceError(f"DATABASE_URL is not a PostgreSQL URL: {_first_line(exc)}") from None
    try:
        defaults: dict[str, Any] = {"connect_timeout": 10, "application_name": "mediagen-migrate"}
        connection = psycopg.connect(conninfo.make_conninfo(**{**defaults, **params}))
    except psycopg.Error as exc:
        raise SourceError(f"cannot connect to {redacted(url)}: {_first_line(exc)}") from None
    connection.isolation_level = IsolationLevel.REPEATABLE_READ
    connection.read_only = True
    return connection


# Every column of the tables in the search path, with whether this role may read it. The catalog, not
# information_schema: information_schema lists only what the role has a privilege on, so a table it
# may not read would look missing.
SCHEMA_QUERY = """
SELECT c.relname, a.attname, has_column_privilege(c.oid, a.attnum, 'SELECT')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = ANY (current_schemas(false)) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY array_position(current_schemas(false), n.nspname) DESC
"""


def check_schema(connection: psycopg.Connection[Any]) -> None:
    """Every table and column the migration reads exists (in the search path) and this role may read
    it, or one SourceError naming all that is missing, then all it may not read."""
    with connection.cursor() as cursor:
        cursor.execute(SCHEMA_QUERY)
        present: dict[str, dict[str, bool]] = {}
        for table, column, readable in cursor:  # the first schema of the path last: it wins
            present.setdefault(table, {})[column] = bool(readable)
        cursor.execute("SELECT current_user")
        row = cursor.fetchone()
    role = row[0] if row else "?"
    missing, denied = [], []
    for table, columns in REQUIRED_COLUMNS.items():
        if table not in present:
            missing.append(f'table "{table}"')
            continue
        missing += [f'column "{table}"."{column}"' for column in columns if column not in present[table]]
        unreadable = [column for column in columns if present[table].get(column) is False]
        if len(unreadable) == len(columns):
            denied.append(f'table "{table}"')
        else:
            denied += [f'column "{table}"."{column}"' for column in unreadable]
    if missing:
        unusable = _schemas_without_usage(
            connection, [table for table in REQUIRED_COLUMNS if table not in present]
        )
        if unusable:  # the tables are there, in a schema this role may not use (so not on its path)
            names = ", ".join(f'"{schema}"' for schema in unusable)
            raise SourceError(
                f'permission denied: the role "{role}" may not use schema {names}, which holds the tables '
                f'(GRANT USAGE ON SCHEMA {names} TO "{role}")'
            )
        raise SourceError(
            "the database is not the old system's (legacy/schema.sql): missing " + ", ".join(missing)
        )
    if denied:
        raise SourceError(
            f'permission denied: the role "{role}" may not read ' + ", ".join(denied)
            + f' (GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}")'
        )  # fmt: skip


def _schemas_without_usage(connection: psycopg.Connection[Any], tables: list[str]) -> list[str]:
    """The schemas holding any of `tables` that this role may not use (PostgreSQL leaves them off its
    effective search path, so the tables look missing)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT n.nspname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = ANY (%s) AND NOT has_schema_privilege(n.oid, 'USAGE') ORDER BY 1",
            (tables,),
        )
        return [row[0] for row in cursor]


def count_generations(connection: psycopg.Connection[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "ImageGeneration"')
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def generations(connection: psycopg.Connection[Any]) -> Iterator[LegacyGeneration]:
    """Every generation, oldest first (ties by id), with its files and notifications."""
    for row in _stream(connection, "generations", GENERATIONS):
        yield LegacyGeneration(
            id=row[0],
            author_id=row[1],
            author_clerk_id=row[2] or None,
            organization_id=row[3],
            organization_clerk_id=row[4] or None,
            prompt=row[5],
            model=row[6],
            num_images=row[7],
            size=row[8],
            status=row[9],
            progress=row[10],
            error_message=row[11],
            created_at=_utc(row[12]),
            updated_at=_utc(row[13]),
            completed_at=_utc(row[14]) if row[14] is not None else None,
            files=tuple(
                LegacyFile(
                    id=f[0],
                    s3_key=f[1],
                    size_bytes=f[2],
                    format=f[3],
                    width=f[4],
                    height=f[5],
                    aspect_ratio=f[6],
                    metadata=f[7] if isinstance(f[7], dict) else {},
                )
                for f in row[15] or ()
            ),
            notifications=tuple(
                LegacyNotification(
                    id=n[0],
                    user_id=n[1],
                    user_clerk_id=n[2] or None,
                    type=n[3],
                    title=n[4],
                    message=n[5],
                    read=bool(n[6]),
                    created_at=_utc(datetime.fromisoformat(n[7])),
                )
                for n in row[16] or ()
            ),
        )


def orphan_files(connection: psycopg.Connection[Any]) -> Iterator[tuple[str, str]]:
    """(file id, generation id) of files whose generation does not exist."""
    for row in _stream(connection, "orphan_files", ORPHAN_FILES):
        yield row[0], row[1]


def orphan_notifications(connection: psycopg.Connection[Any]) -> Iterator[tuple[str, str | None]]:
    """(notification id, generation id or None) of notifications attached to no generation."""
    for row in _stream(connection, "orphan_notifications", ORPHAN_NOTIFICATIONS):
        yield row[0], row[1]


def _stream(connection: psycopg.Connection[Any], name: str, query: str) -> Iterator[tuple[Any, ...]]:
    with connection.cursor(name=f"mediagen_migrate_{name}") as cursor:
        cursor.itersize = FETCH_ROWS
        cursor.execute(query)
        yield from cursor


def _utc(value: datetime) -> datetime:
    """Prisma's TIMESTAMP(3) holds UTC without a zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
