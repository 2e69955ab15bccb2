"use client";
// A Next.js (App Router) client component with Clerk: generate, watch the progress, show the result,
// cancel; and the notifications. Copy it into app/ with the kit (src/) next to it, and set
// NEXT_PUBLIC_MEDIAGEN_URL (http://127.0.0.1:3001 with `PORT=3001 make run`, see the README), and for
// live progress NEXT_PUBLIC_MEDIAGEN_EVENTS_URL and NEXT_PUBLIC_MEDIAGEN_EVENTS_REGION (the stack outputs
// EventsEndpoint and EventsRegion; `events.endpoint` and `events.region` of /_local/info locally).
import { useAuth } from "@clerk/nextjs";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";

import {
  configureLiveProgress,
  createMediagenClient,
  MediagenError,
  userChannel,
  watchJob,
  type JobStatus,
  type Kind,
  type LibraryItem,
  type LibraryScope,
  type LiveMode,
  type NotificationView,
  type ResultView,
  type StatusView,
} from "../src";

declare const process: { env: Record<string, string | undefined> };
const API_URL = process.env.NEXT_PUBLIC_MEDIAGEN_URL ?? "http://127.0.0.1:3001";
const EVENTS_URL = process.env.NEXT_PUBLIC_MEDIAGEN_EVENTS_URL;
const EVENTS_REGION = process.env.NEXT_PUBLIC_MEDIAGEN_EVENTS_REGION ?? "us-east-1";

export function useMediagen() {
  const { getToken } = useAuth();
  return useMemo(() => {
    // Amplify's Events client with the Clerk token: once per getToken (configure is idempotent).
    if (EVENTS_URL) configureLiveProgress({ endpoint: EVENTS_URL, region: EVENTS_REGION, getToken: () => getToken() });
    return createMediagenClient({ baseUrl: API_URL, getToken: () => getToken() });
  }, [getToken]);
}

export type GenerationState =
  | { phase: "idle" }
  | { phase: "running"; jobId: string; status: StatusView | null; mode: LiveMode | null }
  | { phase: "done"; jobId: string; result: ResultView }
  | { phase: "ended"; jobId: string; status: StatusView }
  | { phase: "error"; error: MediagenError | Error };

/** Generate one job and follow it to its end: pushed over the live progress channel while its socket is
 * up, polled while it is down (`mode` says which); `cancel` asks the API to cancel it. */
export function useGeneration(kind: Kind) {
  const client = useMediagen();
  const { userId } = useAuth();
  const [state, setState] = useState<GenerationState>({ phase: "idle" });
  const abort = useRef<AbortController | null>(null);

  useEffect(() => () => abort.current?.abort(), []);

  const start = useCallback(
    async (prompt: string, options: { numImages?: number; size?: string; durationSeconds?: number } = {}) => {
      abort.current?.abort();
      const controller = new AbortController();
      abort.current = controller;
      try {
        // Our own id: a retry of this call (network error) gets the same job back, never a second one.
        const jobId = crypto.randomUUID().replaceAll("-", "");
        const answer = await client.generate(kind, {
          prompt,
          job_id: jobId,
          ...(kind === "image"
            ? { num_images: options.numImages ?? 1, size: options.size ?? null }
            : { duration_seconds: options.durationSeconds ?? null }),
        });
        let latest: { status: StatusView | null; mode: LiveMode | null } = { status: null, mode: null };
        const show = () => setState({ phase: "running", jobId: answer.job_id, ...latest });
        show();
        const final =
          EVENTS_URL && userId
            ? await watchJob({
                client,
                kind,
                jobId: answer.job_id,
                channel: await userChannel(userId),
                signal: controller.signal,
                onStatus: (status) => ((latest = { ...latest, status }), show()),
                onMode: (mode) => ((latest = { ...latest, mode }), show()),
              }).done
            : await client.waitUntilFinal(kind, answer.job_id, {
                signal: controller.signal,
                onStatus: (status) => ((latest = { ...latest, status }), show()),
              });
        if (final.status === "completed") {
          setState({ phase: "done", jobId: answer.job_id, result: await client.result(kind, answer.job_id) });
        } else {
          setState({ phase: "ended", jobId: answer.job_id, status: final });
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof MediagenError && error.code === "too_many_jobs_in_flight") {
          setState({ phase: "error", error: new Error(`Too many jobs running; retry in ${error.retryAfterSeconds ?? 30} s.`) });
          return;
        }
        setState({ phase: "error", error: error instanceof Error ? error : new Error(String(error)) });
      }
    },
    [client, kind, userId],
  );

  const cancel = useCallback(async () => {
    if (state.phase === "running") await client.cancel(kind, state.jobId);
  }, [client, kind, state]);

  return { state, start, cancel };
}

export function GenerationPanel({ kind = "image" }: { kind?: Kind }) {
  const { state, start, cancel } = useGeneration(kind);
  const [prompt, setPrompt] = useState("Un phare breton au coucher du soleil");
  const files = state.phase === "done" ? ((kind === "image" ? state.result.images : state.result.videos) ?? []) : [];

  return (
    <section>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void start(prompt, { numImages: 2, size: "1024x1024" });
        }}
      >
        <input value={prompt} onChange={(event) => setPrompt(event.target.value)} />
        <button type="submit" disabled={state.phase === "running"}>Generate</button>
        <button type="button" onClick={() => void cancel()} disabled={state.phase !== "running"}>Cancel</button>
      </form>
      {state.phase === "running" && <progress max={100} value={state.status?.progress ?? 0} />}
      {state.phase === "running" && state.mode === "polling" && <small>Live updates paused: checking every 2 s</small>}
      {state.phase === "ended" && <p>Job {state.status.status}: {state.status.error ?? ""}</p>}
      {state.phase === "error" && <p role="alert">{state.error.message}</p>}
      {files.map((file) =>
        kind === "image" ? (
          <img key={file.index} src={file.url} width={file.width} height={file.height} alt={file.description ?? prompt} />
        ) : (
          <video key={file.index} src={file.url} controls width={file.width} />
        ),
      )}
    </section>
  );
}

/** The notifications, newest first, with the unread count; marking one read. */
export function useNotifications() {
  const client = useMediagen();
  const [items, setItems] = useState<NotificationView[]>([]);
  const [unread, setUnread] = useState(0);
  const refresh = useCallback(async () => {
    const page = await client.notifications({ limit: 20 });
    setItems(page.items);
    setUnread(page.unread_count);
  }, [client]);
  const markRead = useCallback(
    async (id: string) => {
      await client.markRead(id);
      await refresh();
    },
    [client, refresh],
  );
  useEffect(() => {
    void refresh();
  }, [refresh]);
  return { items, unread, refresh, markRead };
}

/** A person's library (or, with scope "organization", their active organization's), newest first, in
 * pages: `loadMore` appends the next page (the cursor is kept here; it is opaque and bound to this user
 * and these filters), `remove` deletes one of the user's own jobs and drops it from the list. A 403
 * `not_author` means it is a colleague's job; a 404 that it is gone already (dropped too). */
export function useLibrary(kind: Kind, options: { scope?: LibraryScope; status?: JobStatus; pageSize?: number } = {}) {
  const client = useMediagen();
  const { scope = "mine", status, pageSize = 20 } = options;
  const [items, setItems] = useState<LibraryItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<MediagenError | Error | null>(null);

  const load = useCallback(
    async (from: string | null, replace: boolean) => {
      setLoading(true);
      try {
        const page = await client.library(kind, { limit: pageSize, cursor: from, scope, status });
        setItems((previous) => (replace ? page.items : [...previous, ...page.items]));
        setCursor(page.next_cursor);
        setDone(page.next_cursor === null);
        setError(null);
      } catch (caught) {
        setError(caught as Error);
      } finally {
        setLoading(false);
      }
    },
    [client, kind, pageSize, scope, status],
  );
  const refresh = useCallback(() => load(null, true), [load]);
  const loadMore = useCallback(() => (done || loading ? Promise.resolve() : load(cursor, false)), [cursor, done, load, loading]);
  const remove = useCallback(
    async (jobId: string) => {
      try {
        await client.deleteJob(kind, jobId);
      } catch (caught) {
        if (!(caught instanceof MediagenError) || caught.status !== 404) throw caught;
      }
      setItems((previous) => previous.filter((item) => item.job_id !== jobId));
    },
    [client, kind],
  );
  useEffect(() => {
    void refresh();
  }, [refresh]);
  return { items, loadMore, hasMore: !done, loading, error, refresh, remove };
}

/** A gallery of the library: one request per page (each item carries its signed preview URL). */
export function LibraryGallery({ kind = "image" }: { kind?: Kind }) {
  const { items, loadMore, hasMore, loading, error, remove } = useLibrary(kind);
  return (
    <section>
      {error && <p role="alert">{error.message}</p>}
      <ul>
        {items.map((item) => (
          <li key={item.job_id}>
            {item.preview_url ? <img src={item.preview_url} alt={item.prompt ?? item.job_id} width={128} /> : <span>{item.status}</span>}
            <small>{new Date(item.created_at).toLocaleString()}</small>
            <button type="button" onClick={() => void remove(item.job_id)}>Delete</button>
          </li>
        ))}
      </ul>
      {hasMore && (
        <button type="button" onClick={() => void loadMore()} disabled={loading}>
          More
        </button>
      )}
    </section>
  );
}
