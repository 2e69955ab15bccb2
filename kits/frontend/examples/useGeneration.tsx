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
  type Kind,
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
