-- The old database's damage, one case per rule of the contract ("Bringing over the old database").
-- T = 2025-10-23 10:00:00 UTC. Expected outcomes are asserted in test_migrate_local_service.py.

-- Real databases may lack these constraints (the migration reports what they would have refused).
ALTER TABLE "ImageGeneration" DROP CONSTRAINT "ImageGeneration_authorId_fkey";
ALTER TABLE "ImageFile" DROP CONSTRAINT "ImageFile_generationId_fkey";

INSERT INTO "User" ("id", "clerkId", "email", "name", "createdAt", "updatedAt") VALUES
  ('u_first',   'user_first', 'first@example.com', 'First', '2025-01-01 00:00:00', '2025-01-01 00:00:00'),
  ('u_alice',   'user_alice', 'alice@example.com', 'Alice', '2025-02-01 00:00:00', '2025-02-01 00:00:00'),
  ('u_bob',     'user_bob',   'bob@example.com',   'Bob',   '2025-03-01 00:00:00', '2025-03-01 00:00:00'),
  ('u_noclerk', '',           'nc@example.com',    NULL,    '2025-04-01 00:00:00', '2025-04-01 00:00:00');

INSERT INTO "Organization" ("id", "clerkOrgId", "name") VALUES ('o_acme', 'org_acme', 'Acmé & Cie');
INSERT INTO "OrganizationMembership" ("id", "userId", "organizationId") VALUES ('m1', 'u_alice', 'o_acme');

INSERT INTO "ImageGeneration" ("id", "authorId", "organizationId", "prompt", "model", "numImages", "size",
    "status", "progress", "errorMessage", "createdAt", "updatedAt", "completedAt") VALUES
  -- rule 6: as it was (an organization, a unicode prompt, a read notification; a failure)
  ('cm_done_alice', 'u_alice', 'o_acme', 'Un phare breton au coucher du soleil 🌅 — éàü « 灯台 »',
   'gemini-2.5-flash-image', 2, '1024x1024', 'COMPLETED', 100, NULL,
   '2025-10-23 10:00:00', '2025-10-23 10:00:09.500', '2025-10-23 10:00:09.500'),
  ('cm_failed_bob', 'u_bob', NULL, 'Un chat', 'gemini-2.5-flash-image', 1, '1024x1024', 'FAILED', 0,
   'Quota dépassé', '2025-10-23 10:10:00', '2025-10-23 10:10:05', '2025-10-23 10:10:05'),
  -- rule 3: a double entry, 10 minutes apart
  ('cm_merge_a', 'u_alice', 'o_acme', 'Un voilier — prompt d''origine', 'gemini-2.5-flash-image', 1,
   '1024x1024', 'PENDING', 0, NULL, '2025-10-23 11:00:00', '2025-10-23 11:00:00', NULL),
  ('c76c36ee-838d-4ecb-94ed-37018032c9fd', 'u_first', 'o_acme', 'rebuilt description',
   'gemini-2.5-flash-image', 1, '1024x1024', 'COMPLETED', 100, NULL,
   '2025-10-23 11:10:00', '2025-10-23 11:10:07.250', '2025-10-23 11:10:07.250'),
  -- the window's edge: exactly 30 minutes merges ...
  ('cm_edge_30', 'u_bob', NULL, 'edge 30', 'gemini-2.5-flash-image', 1, '512x512', 'PROCESSING', 50, NULL,
   '2025-10-23 12:00:00', '2025-10-23 12:01:00', NULL),
  ('00000000-0000-4000-8000-000000000030', 'u_first', NULL, 'rebuilt', 'gemini-2.5-flash-image', 1,
   '512x512', 'COMPLETED', 100, NULL, '2025-10-23 12:30:00', '2025-10-23 12:30:01', '2025-10-23 12:30:01'),
  -- ... 30 minutes and 1 ms does not
  ('cm_edge_over', 'u_bob', NULL, 'edge over', 'gemini-2.5-flash-image', 1, '768x768', 'PENDING', 0, NULL,
   '2025-10-23 13:00:00', '2025-10-23 13:00:00', NULL),
  ('00000000-0000-4000-8000-000000000031', 'u_first', NULL, 'rebuilt', 'gemini-2.5-flash-image', 1,
   '768x768', 'COMPLETED', 100, NULL, '2025-10-23 13:30:00.001', '2025-10-23 13:30:02', '2025-10-23 13:30:02'),
  -- a tie: two candidates equally close merge nothing
  ('cm_tie_1', 'u_alice', NULL, 'tie one', 'gemini-2.5-flash-image', 1, '640x640', 'PENDING', 0, NULL,
   '2025-10-23 14:00:00', '2025-10-23 14:00:00', NULL),
  ('cm_tie_2', 'u_bob', NULL, 'tie two', 'gemini-2.5-flash-image', 1, '640x640', 'PENDING', 0, NULL,
   '2025-10-23 14:00:00', '2025-10-23 14:00:00', NULL),
  ('00000000-0000-4000-8000-000000000040', 'u_first', NULL, 'rebuilt', 'gemini-2.5-flash-image', 1,
   '640x640', 'COMPLETED', 100, NULL, '2025-10-23 14:05:00', '2025-10-23 14:05:01', '2025-10-23 14:05:01'),
  -- the oldest UUID first takes the closest candidate; the next takes what is left
  ('cm_close_far', 'u_bob', NULL, 'far', 'gemini-2.5-flash-image', 1, '256x256', 'PENDING', 0, NULL,
   '2025-10-23 15:00:00', '2025-10-23 15:00:00', NULL),
  ('cm_close_near', 'u_alice', NULL, 'near', 'gemini-2.5-flash-image', 1, '256x256', 'PENDING', 0, NULL,
   '2025-10-23 15:10:00', '2025-10-23 15:10:00', NULL),
  ('00000000-0000-4000-8000-000000000051', 'u_first', NULL, 'rebuilt', 'gemini-2.5-flash-image', 1,
   '256x256', 'COMPLETED', 100, NULL, '2025-10-23 15:12:00', '2025-10-23 15:12:01', '2025-10-23 15:12:01'),
  ('00000000-0000-4000-8000-000000000052', 'u_first', NULL, 'rebuilt', 'gemini-2.5-flash-image', 1,
   '256x256', 'FAILED', 0, 'Le backend a échoué', '2025-10-23 15:20:00', '2025-10-23 15:20:01',
   '2025-10-23 15:20:01'),
  -- another model: no merge
  ('cm_other_model', 'u_alice', NULL, 'imagen', 'imagen-4', 1, '1024x1024', 'PENDING', 0, NULL,
   '2025-10-23 16:00:00', '2025-10-23 16:00:00', NULL),
  ('00000000-0000-4000-8000-000000000060', 'u_first', NULL, 'rebuilt', 'gemini-2.5-flash-image', 1,
   '1024x1024', 'COMPLETED', 100, NULL, '2025-10-23 16:01:00', '2025-10-23 16:01:01', '2025-10-23 16:01:01'),
  -- a UUID record with no files, merged
  ('cm_nofiles', 'u_bob', NULL, 'sans fichiers', 'gemini-2.5-flash-image', 1, '300x300', 'PENDING', 0, NULL,
   '2025-10-23 17:00:00', '2025-10-23 17:00:00', NULL),
  ('00000000-0000-4000-8000-000000000070', 'u_first', NULL, 'Image générée depuis le backend',
   'gemini-2.5-flash-image', 1, '300x300', 'COMPLETED', 100, NULL,
   '2025-10-23 17:01:00', '2025-10-23 17:01:01', '2025-10-23 17:01:01'),
  -- rule 5: lost
  ('cm_lost', 'u_alice', NULL, 'perdu', 'gemini-2.5-flash-image', 4, '1024x1024', 'PROCESSING', 40, NULL,
   '2025-10-23 18:00:00', '2025-10-23 18:02:00', NULL),
  -- people who cannot be mapped: skipped, reported
  ('cm_noclerk', 'u_noclerk', NULL, 'no clerk', 'gemini-2.5-flash-image', 1, '1024x1024', 'COMPLETED', 100,
   NULL, '2025-10-23 19:00:00', '2025-10-23 19:00:05', '2025-10-23 19:00:05'),
  ('cm_ghost', 'u_ghost', NULL, 'ghost', 'gemini-2.5-flash-image', 1, '1024x1024', 'COMPLETED', 100, NULL,
   '2025-10-23 19:10:00', '2025-10-23 19:10:05', '2025-10-23 19:10:05');

INSERT INTO "ImageFile" ("id", "generationId", "filename", "s3Key", "fileUrl", "fileSize", "format", "width",
    "height", "aspectRatio", "metadata", "createdAt") VALUES
  ('f_done_0', 'cm_done_alice', '0.png', 'images/cm_done_alice/0.png',
   'https://old-bucket.s3.amazonaws.com/images/cm_done_alice/0.png', 1482013, 'PNG', 1024, 1024, '1024x1024',
   '{"description": "Un phare breton 🌅", "model": "gemini-2.5-flash-image", "generation_time": 7.8}',
   '2025-10-23 10:00:09.500'),
  ('f_done_1', 'cm_done_alice', '1.jpeg', 'images/cm_done_alice/1.jpeg',
   'https://old-bucket.s3.amazonaws.com/images/cm_done_alice/1.jpeg', 990000, 'JPEG', 1024, 1024, '1024x1024',
   NULL, '2025-10-23 10:00:09.500'),
  ('f_ua', 'c76c36ee-838d-4ecb-94ed-37018032c9fd', '0.png',
   'images/c76c36ee-838d-4ecb-94ed-37018032c9fd/0.png', 'https://old-bucket.s3.amazonaws.com/x.png', 1200,
   'PNG', 1024, 1024, '1024x1024', '{"description": "rebuilt description", "model": "gemini-2.5-flash-image",
   "generation_time": 6.5}', '2025-10-23 11:10:07.250'),
  ('f_30', '00000000-0000-4000-8000-000000000030', '0.webp', 'images/00000000-0000-4000-8000-000000000030/0.webp',
   'https://old-bucket.s3.amazonaws.com/y.webp', 800, 'WEBP', 512, 512, '512x512', NULL, '2025-10-23 12:30:01'),
  ('f_31a', '00000000-0000-4000-8000-000000000031', '0.png', 'images/00000000-0000-4000-8000-000000000031/0.png',
   'https://old-bucket.s3.amazonaws.com/z0.png', 700, 'PNG', 768, 768, '768x768', NULL, '2025-10-23 13:30:02'),
  ('f_31b', '00000000-0000-4000-8000-000000000031', '1.png', 'images/00000000-0000-4000-8000-000000000031/1.png',
   'https://old-bucket.s3.amazonaws.com/z1.png', 701, 'PNG', 768, 768, '768x768', NULL, '2025-10-23 13:30:02'),
  ('f_51', '00000000-0000-4000-8000-000000000051', '0.png', 'images/00000000-0000-4000-8000-000000000051/0.png',
   'https://old-bucket.s3.amazonaws.com/a.png', 600, 'PNG', 256, 256, '256x256', NULL, '2025-10-23 15:12:01'),
  ('f_noclerk', 'cm_noclerk', '0.png', 'images/cm_noclerk/0.png', 'https://old-bucket.s3.amazonaws.com/b.png',
   500, 'PNG', 1024, 1024, '1024x1024', NULL, '2025-10-23 19:00:05'),
  ('f_orphan', 'cm_vanished', '0.png', 'images/cm_vanished/0.png', 'https://old-bucket.s3.amazonaws.com/c.png',
   400, 'PNG', 1024, 1024, '1024x1024', NULL, '2025-10-23 20:00:00');

INSERT INTO "Notification" ("id", "userId", "type", "title", "message", "metadata", "read", "createdAt") VALUES
  ('n_done', 'u_alice', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '2 image(s) créée(s).',
   '{"generationId": "cm_done_alice", "source": "api"}', true, '2025-10-23 10:00:09.600'),
  ('n_failed', 'u_bob', 'IMAGE_FAILED', '❌ Échec de la génération d''images', 'Quota dépassé',
   '{"generationId": "cm_failed_bob"}', false, '2025-10-23 10:10:05.100'),
  ('n_ua', 'u_first', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '1 image(s) créée(s).',
   '{"generationId": "c76c36ee-838d-4ecb-94ed-37018032c9fd", "source": "backend-direct"}', true,
   '2025-10-23 11:10:07.300'),
  ('n_30', 'u_first', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '1 image(s) créée(s).',
   '{"generationId": "00000000-0000-4000-8000-000000000030", "source": "backend-direct"}', false,
   '2025-10-23 12:30:01.100'),
  ('n_31', 'u_first', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '2 image(s) créée(s).',
   '{"generationId": "00000000-0000-4000-8000-000000000031", "source": "backend-direct"}', false,
   '2025-10-23 13:30:02.100'),
  ('n_40', 'u_first', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '1 image(s) créée(s).',
   '{"generationId": "00000000-0000-4000-8000-000000000040", "source": "backend-direct"}', false,
   '2025-10-23 14:05:01.100'),
  ('n_51', 'u_first', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '1 image(s) créée(s).',
   '{"generationId": "00000000-0000-4000-8000-000000000051", "source": "backend-direct"}', false,
   '2025-10-23 15:12:01.100'),
  ('n_52', 'u_first', 'IMAGE_FAILED', '❌ Échec de la génération d''images', 'Le backend a échoué',
   '{"generationId": "00000000-0000-4000-8000-000000000052", "source": "backend-direct"}', false,
   '2025-10-23 15:20:01.100'),
  ('n_60', 'u_first', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '1 image(s) créée(s).',
   '{"generationId": "00000000-0000-4000-8000-000000000060", "source": "backend-direct"}', true,
   '2025-10-23 16:01:01.100'),
  ('n_70', 'u_first', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '0 image(s) créée(s).',
   '{"generationId": "00000000-0000-4000-8000-000000000070", "source": "backend-direct"}', false,
   '2025-10-23 17:01:01.100'),
  ('n_noclerk', 'u_noclerk', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '1 image(s) créée(s).',
   '{"generationId": "cm_noclerk"}', false, '2025-10-23 19:00:05.100'),
  ('n_system', 'u_alice', 'SYSTEM', 'Maintenance', 'Le service sera interrompu ce soir.', NULL, false,
   '2025-10-23 20:00:00'),
  ('n_orphan', 'u_bob', 'IMAGE_COMPLETED', '🎨 Images générées avec succès', '1 image(s) créée(s).',
   '{"generationId": "cm_vanished"}', false, '2025-10-23 20:00:01');
