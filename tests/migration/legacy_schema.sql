-- Copy of shared/legacy/schema.sql (the old system's database); test_legacy_schema_is_the_contracts checks it has not drifted.
-- The old system's database: the Next.js front end's Prisma models on PostgreSQL, as `prisma migrate`
-- writes them (quoted PascalCase tables, camelCase columns, enum types, TIMESTAMP(3), JSONB).
-- Reconstructed from the old system's fix note (background/old-fix-note.fr.md): the fields it names, plus
-- the usual Prisma bookkeeping columns. A migration reads these tables and columns; it ignores columns it
-- does not know, and fails with a clear message when a table or a column it needs is missing.

CREATE TYPE "GenerationStatus" AS ENUM ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED');
CREATE TYPE "ImageFormat" AS ENUM ('PNG', 'JPEG', 'WEBP');
CREATE TYPE "NotificationType" AS ENUM ('IMAGE_COMPLETED', 'IMAGE_FAILED', 'SYSTEM');

-- A signed-up person; `clerkId` is the Clerk user id (`sub` of the session token).
CREATE TABLE "User" (
    "id" TEXT NOT NULL,
    "clerkId" TEXT NOT NULL,
    "email" TEXT,
    "name" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "User_clerkId_key" ON "User"("clerkId");

-- `clerkOrgId` is the Clerk organization id (`o.id` / `org_id` of the session token).
CREATE TABLE "Organization" (
    "id" TEXT NOT NULL,
    "clerkOrgId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Organization_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "Organization_clerkOrgId_key" ON "Organization"("clerkOrgId");

CREATE TABLE "OrganizationMembership" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "role" TEXT NOT NULL DEFAULT 'member',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "OrganizationMembership_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "OrganizationMembership_userId_organizationId_key"
    ON "OrganizationMembership"("userId", "organizationId");

-- One generation request. The front end made these with cuid ids (`cmh3h35780001gg0lwosk26du`); the old
-- webhook's "create on missing" made them with the backend's UUID as id, the first user as author, the
-- prompt rebuilt from the first image's description, status COMPLETED and progress 100.
CREATE TABLE "ImageGeneration" (
    "id" TEXT NOT NULL,
    "authorId" TEXT NOT NULL,
    "organizationId" TEXT,
    "prompt" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "numImages" INTEGER NOT NULL DEFAULT 1,
    "size" TEXT NOT NULL,
    "status" "GenerationStatus" NOT NULL DEFAULT 'PENDING',
    "progress" INTEGER NOT NULL DEFAULT 0,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "completedAt" TIMESTAMP(3),
    CONSTRAINT "ImageGeneration_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "ImageGeneration_authorId_createdAt_idx" ON "ImageGeneration"("authorId", "createdAt");

-- One file of a generation; `s3Key` is the key in the media bucket, `fileUrl` the raw bucket URL,
-- `aspectRatio` the "WIDTHxHEIGHT" string, `metadata` {description, model, generation_time}.
CREATE TABLE "ImageFile" (
    "id" TEXT NOT NULL,
    "generationId" TEXT NOT NULL,
    "filename" TEXT NOT NULL,
    "s3Key" TEXT NOT NULL,
    "fileUrl" TEXT NOT NULL,
    "fileSize" INTEGER NOT NULL,
    "format" "ImageFormat" NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "aspectRatio" TEXT NOT NULL,
    "metadata" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ImageFile_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "ImageFile_generationId_idx" ON "ImageFile"("generationId");

-- `metadata` is {generationId, source}; source 'backend-direct' marks the notifications that the old
-- webhook's "create on missing" sent (to the first user).
CREATE TABLE "Notification" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "type" "NotificationType" NOT NULL,
    "title" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "metadata" JSONB,
    "read" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Notification_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "Notification_userId_createdAt_idx" ON "Notification"("userId", "createdAt");

ALTER TABLE "OrganizationMembership" ADD CONSTRAINT "OrganizationMembership_userId_fkey"
    FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "OrganizationMembership" ADD CONSTRAINT "OrganizationMembership_organizationId_fkey"
    FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ImageGeneration" ADD CONSTRAINT "ImageGeneration_authorId_fkey"
    FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "ImageGeneration" ADD CONSTRAINT "ImageGeneration_organizationId_fkey"
    FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "ImageFile" ADD CONSTRAINT "ImageFile_generationId_fkey"
    FOREIGN KEY ("generationId") REFERENCES "ImageGeneration"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Notification" ADD CONSTRAINT "Notification_userId_fkey"
    FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
