# ruff: noqa: S608, E501 - SQL text with integer sizes only (no outside input); long SQL lines kept whole
"""A synthetic old database of any size, made by PostgreSQL itself (generate_series: seconds for
100,000 generations): used by the migration benchmark and by the crash-and-rerun test.

Of `rows` generations, 30 % are the old webhook's UUID copies of a front-end generation left PENDING
(a double entry: created 60 s apart, same model / numImages / size), 30 % those PENDING front-end
rows, 40 % ordinary completed front-end rows. Every completed row has 4 files and one notification
(half of them read); the UUID copies' notifications go to the first user, as the old webhook did.
"""

from dataclasses import dataclass

from psycopg import Connection

DOUBLE_SHARE = 0.3
USERS = 1000
FILES = 4


@dataclass(frozen=True)
class Shape:
    rows: int
    completed: int  # ordinary front-end rows
    pairs: int  # double entries (a PENDING front-end row and its UUID copy)

    @property
    def jobs(self) -> int:
        return self.completed + self.pairs

    @property
    def items(self) -> int:
        """Items a migration writes: a job and its notification each; a pair adds the alias."""
        return 2 * self.completed + 3 * self.pairs


def shape(rows: int) -> Shape:
    pairs = int(rows * DOUBLE_SHARE)
    return Shape(rows=rows, completed=rows - 2 * pairs, pairs=pairs)


def fill(connection: Connection[tuple[object, ...]], rows: int) -> Shape:
    """Insert the synthetic history into a database that has the old schema (and nothing else)."""
    s = shape(rows)
    statements = [
        f"""INSERT INTO "User" ("id", "clerkId", "createdAt", "updatedAt")
            SELECT 'u' || i, 'user_' || i, TIMESTAMP '2025-01-01' + i * INTERVAL '1 minute',
                   TIMESTAMP '2025-01-01' FROM generate_series(0, {USERS - 1}) i""",
        # ordinary completed front-end rows, every 90 s
        f"""INSERT INTO "ImageGeneration" ("id", "authorId", "prompt", "model", "numImages", "size", "status",
                "progress", "createdAt", "updatedAt", "completedAt")
            SELECT 'cmc' || lpad(i::text, 10, '0'), 'u' || (1 + i % {USERS - 1}),
                   'Un phare breton n°' || i || ' 🌅', 'gemini-2.5-flash-image', {FILES}, '1024x1024',
                   'COMPLETED', 100, t, t + INTERVAL '9 seconds', t + INTERVAL '9 seconds'
            FROM generate_series(1, {s.completed}) i,
                 LATERAL (SELECT TIMESTAMP '2025-06-01' + i * INTERVAL '90 seconds' AS t) x""",
        # double entries: the front end's PENDING row, then the webhook's UUID row 60 s later, every 2 min
        f"""INSERT INTO "ImageGeneration" ("id", "authorId", "prompt", "model", "numImages", "size", "status",
                "progress", "createdAt", "updatedAt")
            SELECT 'cmp' || lpad(k::text, 10, '0'), 'u' || (1 + k % {USERS - 1}), 'Un voilier n°' || k,
                   'gemini-2.5-flash-image', {FILES}, '1024x1024', 'PENDING', 0, t, t
            FROM generate_series(1, {s.pairs}) k,
                 LATERAL (SELECT TIMESTAMP '2025-06-01' + k * INTERVAL '2 minutes' + INTERVAL '17 seconds' AS t) x""",
        f"""INSERT INTO "ImageGeneration" ("id", "authorId", "prompt", "model", "numImages", "size", "status",
                "progress", "createdAt", "updatedAt", "completedAt")
            SELECT md5('pair' || k)::uuid::text, 'u0', 'Un voilier', 'gemini-2.5-flash-image', {FILES},
                   '1024x1024', 'COMPLETED', 100, t, t + INTERVAL '8 seconds', t + INTERVAL '8 seconds'
            FROM generate_series(1, {s.pairs}) k,
                 LATERAL (SELECT TIMESTAMP '2025-06-01' + k * INTERVAL '2 minutes' + INTERVAL '77 seconds' AS t) x""",
        f"""INSERT INTO "ImageFile" ("id", "generationId", "filename", "s3Key", "fileUrl", "fileSize", "format",
                "width", "height", "aspectRatio", "metadata", "createdAt")
            SELECT g."id" || '-' || j, g."id", j || '.png', 'images/' || g."id" || '/' || j || '.png',
                   'https://old-bucket.s3.amazonaws.com/images/' || g."id" || '/' || j || '.png',
                   1400000 + j, 'PNG', 1024, 1024, '1024x1024',
                   jsonb_build_object('description', g."prompt", 'model', g."model", 'generation_time', 7.5),
                   g."completedAt"
            FROM "ImageGeneration" g, generate_series(0, {FILES - 1}) j WHERE g."status" = 'COMPLETED'""",
        """INSERT INTO "Notification" ("id", "userId", "type", "title", "message", "metadata", "read", "createdAt")
            SELECT 'n' || g."id", g."authorId", 'IMAGE_COMPLETED', '🎨 Images générées avec succès',
                   '4 image(s) créée(s).',
                   jsonb_build_object('generationId', g."id",
                                      'source', CASE WHEN g."id" LIKE 'cm%' THEN 'api' ELSE 'backend-direct' END),
                   hashtext(g."id") % 2 = 0, g."completedAt" + INTERVAL '100 milliseconds'
            FROM "ImageGeneration" g WHERE g."status" = 'COMPLETED'""",
        "ANALYZE",
    ]
    for statement in statements:
        connection.execute(statement)
    return s
