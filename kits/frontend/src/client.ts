// A thin typed client of mediagen's user routes, over openapi-fetch and the types generated from
// openapi.json (src/schema.d.ts: `npm run generate`). Every call carries the Clerk session token from
// `getToken()` (Clerk refreshes it; ask for it per call, never cache it).
import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema";

type Schemas = components["schemas"];
export type Kind = "image" | "video";
export type GenerateRequest = Schemas["GenerateRequest"];
export type GenerateAnswer = Schemas["GenerateAnswer"];
export type StatusView = Schemas["StatusView"];
export type ResultView = Schemas["ResultView"];
export type NotificationsPage = Schemas["NotificationsPage"];
export type NotificationView = Schemas["NotificationView"];
export type LibraryPage = Schemas["LibraryPage"];
export type LibraryItem = Schemas["LibraryItem"];
export type DeleteAnswer = Schemas["DeleteAnswer"];
export type LibraryScope = "mine" | "organization";

export interface LibraryQuery {
  /** 1..100 items a page (default 20). */
  limit?: number;
  /** The previous page's `next_cursor` (opaque; bound to this user, kind, scope and status). */
  cursor?: string | null;
  status?: JobStatus;
  /** "mine" (default): the jobs the user authored; "organization": the active organization's. */
  scope?: LibraryScope;
}
export type JobStatus = StatusView["status"];
export type ApiError = Schemas["Error"];

export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["completed", "failed", "canceled"]);

/** A non-2xx answer: the contract's `code` and `message`, the HTTP status, and `Retry-After`. */
export class MediagenError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Partial<ApiError> | undefined,
    readonly retryAfterSeconds: number | null,
  ) {
    super(message);
    this.name = "MediagenError";
  }
}

export interface ClientOptions {
  /** The API's base URL, e.g. process.env.NEXT_PUBLIC_MEDIAGEN_URL ("http://127.0.0.1:3001" locally). */
  baseUrl: string;
  /** Clerk's `getToken()` (from `useAuth()` or `auth()`): a fresh session token per call. */
  getToken: () => Promise<string | null>;
  fetch?: typeof globalThis.fetch;
}

export interface PollOptions {
  /** Called with every status read, e.g. to move a progress bar. */
  onStatus?: (status: StatusView) => void;
  signal?: AbortSignal;
  /** First wait between polls, in ms (default 500); it grows x1.5 up to `maxDelayMs` (default 5000). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Give up after this long (default 10 minutes): a MediagenError with code `poll_timeout`. */
  timeoutMs?: number;
}

function fail(response: Response, error: unknown): never {
  const body = (typeof error === "object" && error !== null ? error : undefined) as Partial<ApiError> | undefined;
  const retryAfter = response.headers.get("retry-after");
  throw new MediagenError(
    response.status,
    body?.code ?? `http_${response.status}`,
    body?.message ?? response.statusText,
    body,
    retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null,
  );
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

export function createMediagenClient({ baseUrl, getToken, fetch }: ClientOptions) {
  const api = createClient<paths>({ baseUrl: baseUrl.replace(/\/$/, ""), fetch });
  const auth: Middleware = {
    async onRequest({ request }) {
      const token = await getToken();
      if (!token) throw new MediagenError(401, "signed_out", "No session token: the user is signed out.", undefined, null);
      request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  };
  api.use(auth);

  /** POST /api/{kind}s/generate: 202 for a new job, 200 when this user repeats a job_id. */
  async function generate(kind: Kind, request: GenerateRequest): Promise<GenerateAnswer> {
    const { data, error, response } =
      kind === "image"
        ? await api.POST("/api/images/generate", { body: request })
        : await api.POST("/api/videos/generate", { body: request });
    if (!data) fail(response, error);
    return data;
  }

  async function status(kind: Kind, jobId: string): Promise<StatusView> {
    const params = { path: { job_id: jobId } };
    const { data, error, response } =
      kind === "image"
        ? await api.GET("/api/images/{job_id}/status", { params })
        : await api.GET("/api/videos/{job_id}/status", { params });
    if (!data) fail(response, error);
    return data;
  }

  /** Polls the status with backoff until a final state (completed, failed, canceled) and returns it.
   * A 503 or 429 is waited out (Retry-After honoured); any other error is thrown. */
  async function waitUntilFinal(kind: Kind, jobId: string, options: PollOptions = {}): Promise<StatusView> {
    const { onStatus, signal, initialDelayMs = 500, maxDelayMs = 5000, timeoutMs = 600_000 } = options;
    const deadline = Date.now() + timeoutMs;
    let delay = initialDelayMs;
    for (;;) {
      try {
        const current = await status(kind, jobId);
        onStatus?.(current);
        if (FINAL_STATUSES.has(current.status)) return current;
      } catch (error) {
        if (!(error instanceof MediagenError) || (error.status !== 503 && error.status !== 429)) throw error;
        delay = Math.max(delay, (error.retryAfterSeconds ?? 0) * 1000);
      }
      if (Date.now() + delay > deadline) {
        throw new MediagenError(408, "poll_timeout", `Job ${jobId} is not final after ${timeoutMs} ms.`, undefined, null);
      }
      await sleep(delay, signal);
      delay = Math.min(maxDelayMs, Math.round(delay * 1.5));
    }
  }

  /** GET /api/{kind}s/{id}/result: the files as short-lived signed URLs (409 before completion). */
  async function result(kind: Kind, jobId: string): Promise<ResultView> {
    const params = { path: { job_id: jobId } };
    const { data, error, response } =
      kind === "image"
        ? await api.GET("/api/images/{job_id}/result", { params })
        : await api.GET("/api/videos/{job_id}/result", { params });
    if (!data) fail(response, error);
    return data;
  }

  /** POST /api/{kind}s/{id}/cancel: the author cancels a job that is not final (403 for others). */
  async function cancel(kind: Kind, jobId: string): Promise<StatusView> {
    const params = { path: { job_id: jobId } };
    const { data, error, response } =
      kind === "image"
        ? await api.POST("/api/images/{job_id}/cancel", { params })
        : await api.POST("/api/videos/{job_id}/cancel", { params });
    if (!data) fail(response, error);
    return data;
  }

  /** GET /api/notifications: newest first; pass `next_cursor` back as `cursor` for the next page. */
  async function notifications(
    query: { limit?: number; cursor?: string | null; unread?: boolean } = {},
  ): Promise<NotificationsPage> {
    const { data, error, response } = await api.GET("/api/notifications", {
      params: { query: { limit: query.limit, cursor: query.cursor ?? undefined, unread: query.unread } },
    });
    if (!data) fail(response, error);
    return data;
  }

  async function markRead(notificationId: string): Promise<NotificationView> {
    const { data, error, response } = await api.POST("/api/notifications/{notification_id}/read", {
      params: { path: { notification_id: notificationId } },
    });
    if (!data) fail(response, error);
    return data;
  }

  /** GET /api/{kind}s: one page of the person's library (or their organization's), newest first; each
   * completed item has a signed `preview_url`. Pass `next_cursor` back as `cursor` for the next page. */
  async function library(kind: Kind, query: LibraryQuery = {}): Promise<LibraryPage> {
    const params = {
      query: { limit: query.limit, cursor: query.cursor ?? undefined, status: query.status, scope: query.scope },
    };
    const { data, error, response } =
      kind === "image" ? await api.GET("/api/images", { params }) : await api.GET("/api/videos", { params });
    if (!data) fail(response, error);
    return data;
  }

  /** DELETE /api/{kind}s/{id}: its author deletes a job (canceled first when in flight), its files and
   * its notification; 403 for another member of its organization, 404 when it is gone already. */
  async function deleteJob(kind: Kind, jobId: string): Promise<DeleteAnswer> {
    const params = { path: { job_id: jobId } };
    const { data, error, response } =
      kind === "image"
        ? await api.DELETE("/api/images/{job_id}", { params })
        : await api.DELETE("/api/videos/{job_id}", { params });
    if (!data) fail(response, error);
    return data;
  }

  return { generate, status, waitUntilFinal, result, cancel, notifications, markRead, library, deleteJob, raw: api };
}

export type MediagenClient = ReturnType<typeof createMediagenClient>;
