"""The old system (Next.js + Prisma) on the same stand-in, as faithfully as its fix note describes it
(../shared/background/old-fix-note.fr.md).

Prisma's tables become DynamoDB tables created for the bench only, and each Prisma call becomes one
DynamoDB request:
- `findUnique` -> GetItem (strongly consistent: PostgreSQL reads see the last write);
- `findFirst({orderBy: {createdAt: 'asc'}})` -> a Query of one item on an index of users by creation
  time. Not a Scan: a Scan cannot order, so it would have to read every user and sort them, a cost
  that grows with the users; the index answers in one request whatever their number, as PostgreSQL's
  index on createdAt would. The include of the user's first organization membership is stored on the
  user item, so it costs nothing more;
- `create` -> PutItem (conditional: a create never overwrites); `findMany` -> Query; `count` -> a COUNT
  Query with a filter.
Prisma's `include`s (`images`, `author` on the created generation) are extra SELECTs in Prisma; they are
not modelled, so the old flow's figures are a lower bound.
"""

import json
import secrets
import string
import time
from datetime import UTC, datetime
from typing import Any

USERS = "old-users"
GENERATIONS = "old-image-generations"
FILES = "old-image-files"
NOTIFICATIONS = "old-notifications"
USERS_BY_CREATION = "by_created"

TABLES: list[dict[str, Any]] = [
    {
        "TableName": USERS,
        "AttributeDefinitions": [
            {"AttributeName": "clerkId", "AttributeType": "S"},
            {"AttributeName": "entity", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "clerkId", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": USERS_BY_CREATION,
                "KeySchema": [
                    {"AttributeName": "entity", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    },
    {
        "TableName": GENERATIONS,
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    },
    {
        # generationId first: `include: {images: true}` reads a generation's files with one Query.
        "TableName": FILES,
        "AttributeDefinitions": [
            {"AttributeName": "generationId", "AttributeType": "S"},
            {"AttributeName": "id", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "generationId", "KeyType": "HASH"},
            {"AttributeName": "id", "KeyType": "RANGE"},
        ],
    },
    {
        # cuids begin with the time, so the sort key orders a user's notifications by creation.
        "TableName": NOTIFICATIONS,
        "AttributeDefinitions": [
            {"AttributeName": "userId", "AttributeType": "S"},
            {"AttributeName": "id", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "userId", "KeyType": "HASH"},
            {"AttributeName": "id", "KeyType": "RANGE"},
        ],
    },
]

_counter = 0


def cuid() -> str:
    """A Prisma-style cuid (25 characters, time first)."""
    global _counter
    _counter += 1
    alphabet = string.digits + string.ascii_lowercase

    def base36(number: int, width: int) -> str:
        digits = ""
        while number:
            number, rest = divmod(number, 36)
            digits = alphabet[rest] + digits
        return digits.rjust(width, "0")[-width:]

    random_part = "".join(secrets.choice(alphabet) for _ in range(12))
    return "c" + base36(time.time_ns() // 1_000_000, 8) + base36(_counter, 4) + random_part


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(*parts: Any) -> None:
    """console.log: the old route's log lines, to stdout as Vercel collects them."""
    print(*parts)


def create_tables(client: Any) -> None:
    for table in TABLES:
        client.create_table(BillingMode="PAY_PER_REQUEST", **table)


class OldSystem:
    """The old routes, each Prisma call one request through `client` (a boto3 DynamoDB client)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    # --- data ----------------------------------------------------------------------------------------

    def seed_user(self, clerk_id: str, email: str, organization_id: str | None) -> str:
        user_id = cuid()
        item: dict[str, Any] = {
            "clerkId": {"S": clerk_id},
            "id": {"S": user_id},
            "email": {"S": email},
            "firstName": {"S": "Bench"},
            "lastName": {"S": "User"},
            "entity": {"S": "USER"},
            "createdAt": {"S": now_iso()},
            "updatedAt": {"S": now_iso()},
        }
        if organization_id:
            item["firstOrganizationId"] = {"S": organization_id}
        self.client.put_item(TableName=USERS, Item=item)
        return user_id

    def find_user(self, clerk_id: str) -> dict[str, Any] | None:
        """prisma.user.findUnique({ where: { clerkId } })"""
        item: dict[str, Any] | None = self.client.get_item(
            TableName=USERS, Key={"clerkId": {"S": clerk_id}}, ConsistentRead=True
        ).get("Item")
        return item

    def first_user(self) -> dict[str, Any]:
        """prisma.user.findFirst({ orderBy: { createdAt: 'asc' }, include: { organizationMemberships:
        { take: 1 } } })"""
        items = self.client.query(
            TableName=USERS,
            IndexName=USERS_BY_CREATION,
            KeyConditionExpression="entity = :user",
            ExpressionAttributeValues={":user": {"S": "USER"}},
            ScanIndexForward=True,
            Limit=1,
        )["Items"]
        first: dict[str, Any] = items[0]
        return first

    def find_generation(self, generation_id: str) -> dict[str, Any] | None:
        """prisma.imageGeneration.findUnique({ where: { id } })"""
        item: dict[str, Any] | None = self.client.get_item(
            TableName=GENERATIONS, Key={"id": {"S": generation_id}}, ConsistentRead=True
        ).get("Item")
        return item

    def create(self, table: str, item: dict[str, Any], key: str = "id") -> None:
        """prisma.<model>.create({ data })"""
        self.client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(#key)",
            ExpressionAttributeNames={"#key": key},
        )

    # --- routes --------------------------------------------------------------------------------------

    def generate(self, clerk_id: str, prompt: str, num_images: int, size: str, model: str) -> str:
        """POST /api/images/generate: the user, then the generation (the backend is called after)."""
        user = self.find_user(clerk_id)
        assert user is not None
        generation_id = cuid()
        stamp = now_iso()
        item = {
            "id": {"S": generation_id},
            "authorId": user["id"],
            "prompt": {"S": prompt},
            "model": {"S": model},
            "numImages": {"N": str(num_images)},
            "size": {"S": size},
            "status": {"S": "PENDING"},
            "progress": {"N": "0"},
            "createdAt": {"S": stamp},
            "updatedAt": {"S": stamp},
        }
        if "firstOrganizationId" in user:
            item["organizationId"] = user["firstOrganizationId"]
        self.create(GENERATIONS, item)
        return generation_id

    def image_completion_webhook(self, body: str) -> dict[str, Any]:
        """POST /api/webhooks/image-completion, with the fix note's creation on a missing generation."""
        started = time.perf_counter()
        log("🎨 [Image Webhook] Réception d'un webhook de génération d'images...")
        payload = json.loads(body)
        image_data = payload.get("data") or {}
        images = image_data.get("images") or []
        metadata = image_data.get("metadata") or {}
        job_id = payload["job_id"]
        status = payload["status"]
        summary = {
            "job_id": job_id,
            "status": status,
            "has_data": bool(payload.get("data")),
            "images_count": len(images),
        }
        log("📦 [Image Webhook] Payload reçu:", json.dumps(summary, ensure_ascii=False))
        generation = self.find_generation(job_id)
        stamp = now_iso()
        if generation is None:
            log(f"⚠️ [Image Webhook] ImageGeneration non trouvée pour job_id: {job_id}")
            if status != "completed" or not images:
                # The note creates generations from the first image; without one there is nothing to do.
                return {"received": True}
            log("🔧 [Image Webhook] Création d'une nouvelle entrée ImageGeneration...")
            first_user = self.first_user()
            first_image = images[0]
            width, height = (int(x) for x in first_image["dimensions"].split("x"))
            generation = {
                "id": {"S": job_id},
                "authorId": first_user["id"],
                "prompt": {"S": first_image.get("description") or "Image générée depuis le backend"},
                "model": {"S": metadata.get("model_name") or "gemini-2.5-flash-image"},
                "numImages": {"N": str(len(images))},
                "size": {"S": f"{width}x{height}"},
                "status": {"S": "COMPLETED"},
                "progress": {"N": "100"},
                "createdAt": {"S": stamp},
                "updatedAt": {"S": stamp},
                "completedAt": {"S": stamp},
            }
            if "firstOrganizationId" in first_user:
                generation["organizationId"] = first_user["firstOrganizationId"]
            self.create(GENERATIONS, generation)
            log(
                "✅ [Image Webhook] ImageGeneration créée:",
                json.dumps({"id": job_id, "authorId": first_user["id"]["S"]}),
            )
        else:
            # A generation that exists (the ids matched) is brought up to date.
            names = {"#status": "status", "#progress": "progress", "#updatedAt": "updatedAt"}
            values: dict[str, Any] = {
                ":status": {"S": status.upper()},
                ":progress": {"N": str(100 if status == "completed" else payload.get("progress") or 0)},
                ":now": {"S": stamp},
            }
            expression = "SET #status = :status, #progress = :progress, #updatedAt = :now"
            if status == "completed":
                names["#completedAt"] = "completedAt"
                expression += ", #completedAt = :now"
            self.client.update_item(
                TableName=GENERATIONS,
                Key={"id": {"S": job_id}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        if status == "completed":
            log("📸 [Image Webhook] Création des ImageFile...")
            for image in images:
                image_width, image_height = (int(x) for x in image["dimensions"].split("x"))
                file_metadata: dict[str, Any] = {
                    "description": {"S": image["description"]}
                    if image.get("description")
                    else {"NULL": True},
                    "model": {"S": metadata["model_name"]} if metadata.get("model_name") else {"NULL": True},
                    "generation_time": (
                        {"N": str(metadata["generation_time_seconds"])}
                        if metadata.get("generation_time_seconds") is not None
                        else {"NULL": True}
                    ),
                }
                self.create(
                    FILES,
                    {
                        "id": {"S": cuid()},
                        "generationId": {"S": job_id},
                        "filename": {"S": image["file_path"].split("/")[-1]},
                        "s3Key": {"S": image["file_path"]},
                        "fileUrl": {"S": image["url"]},
                        "fileSize": {"N": str(image["size_bytes"])},
                        "format": {"S": image["format"].upper()},
                        "width": {"N": str(image_width)},
                        "height": {"N": str(image_height)},
                        "aspectRatio": {"S": image["dimensions"]},
                        "metadata": {"M": file_metadata},
                        "createdAt": {"S": now_iso()},
                    },
                )
            log(
                "✅ [Image Webhook] Images créées depuis le backend:",
                json.dumps({"generationId": job_id, "imagesCount": len(images)}),
            )
            author = generation["authorId"]
            self.create(
                NOTIFICATIONS,
                {
                    "id": {"S": cuid()},
                    "userId": author,
                    "type": {"S": "IMAGE_COMPLETED"},
                    "title": {"S": "🎨 Images générées avec succès"},
                    "message": {"S": f"{len(images)} image(s) créée(s)."},
                    "read": {"BOOL": False},
                    "metadata": {"M": {"generationId": {"S": job_id}, "source": {"S": "backend-direct"}}},
                    "createdAt": {"S": now_iso()},
                },
            )
            log(f"🔔 [Image Webhook] Notification créée pour: {author['S']}")
        log(f"⏱️ [Image Webhook] Traitement terminé en {round((time.perf_counter() - started) * 1000)}ms")
        return {"success": True}

    def status(self, clerk_id: str, generation_id: str) -> dict[str, Any] | None:
        """GET /api/images/[id]/status: the user (Clerk id -> user), then the generation."""
        user = self.find_user(clerk_id)
        generation = self.find_generation(generation_id)
        if user is None or generation is None or generation["authorId"] != user["id"]:
            return None
        return {"status": generation["status"]["S"], "progress": generation["progress"]["N"]}

    def result(self, clerk_id: str, generation_id: str) -> list[dict[str, Any]]:
        """GET /api/images/[id]/result: the user, the generation and `include: { images: true }`."""
        self.find_user(clerk_id)
        self.find_generation(generation_id)
        files: list[dict[str, Any]] = self.client.query(
            TableName=FILES,
            KeyConditionExpression="generationId = :id",
            ExpressionAttributeValues={":id": {"S": generation_id}},
            ConsistentRead=True,
        )["Items"]
        return files

    def notifications(self, clerk_id: str) -> tuple[list[dict[str, Any]], int]:
        """The front end's notification list: findMany (newest first, 20) and count of unread ones."""
        user = self.find_user(clerk_id)
        assert user is not None
        key = {":user": user["id"]}
        items: list[dict[str, Any]] = self.client.query(
            TableName=NOTIFICATIONS,
            KeyConditionExpression="userId = :user",
            ExpressionAttributeValues=key,
            ScanIndexForward=False,
            Limit=20,
            ConsistentRead=True,
        )["Items"]
        unread: int = self.client.query(
            TableName=NOTIFICATIONS,
            KeyConditionExpression="userId = :user",
            FilterExpression="#read = :false",
            ExpressionAttributeNames={"#read": "read"},
            ExpressionAttributeValues={**key, ":false": {"BOOL": False}},
            Select="COUNT",
            ConsistentRead=True,
        )["Count"]
        return items, unread
