// Live progress: each change of a job pushed by mediagen's AppSync Events API, received with AWS's own
// client (aws-amplify's `events`) and the Clerk session token; polling the status route while the
// socket is down. The status route stays the truth: pushed events may come twice or out of order, and
// `newer()` keeps the newest by status, `updated_at` and `progress`.
import { Amplify } from "aws-amplify";
import { CONNECTION_STATE_CHANGE, ConnectionState, events } from "aws-amplify/api";
import { decodeJWT } from "aws-amplify/auth";
import { Hub } from "aws-amplify/utils";

import { FINAL_STATUSES, MediagenError, type Kind, type MediagenClient, type StatusView } from "./client";

export interface LiveProgressConfig {
  /** The Events API's endpoint: the stack output `EventsEndpoint`, or `events.endpoint` of the local
   * service's `/_local/info` (https://127.0.0.1:3002/event with `make run`). */
  endpoint: string;
  /** The stack's region (`EventsRegion`; `events.region` locally). */
  region: string;
  /** Clerk's `getToken()`: the socket and each subscription carry the session token (OPENID_CONNECT). */
  getToken: () => Promise<string | null>;
}

/** Configure Amplify once, at the start of the app: the Events API, and Clerk as its token provider. */
export function configureLiveProgress({ endpoint, region, getToken }: LiveProgressConfig): void {
  Amplify.configure(
    { API: { Events: { endpoint, region, defaultAuthMode: "oidc" } } },
    {
      Auth: {
        tokenProvider: {
          async getTokens() {
            const token = await getToken();
            return token ? { accessToken: decodeJWT(token) } : null;
          },
        },
      },
    },
  );
}

const CLERK_ID = /^(user|org)_[A-Za-z0-9]+$/;

/** The channel segment of a user or organization id, as the service maps it (docs/architecture.md):
 * a Clerk id's underscore becomes a dash (`user_2abc` -> `user-2abc`); any other id is hashed. */
export async function channelSegment(id: string): Promise<string> {
  if (id.length <= 50 && CLERK_ID.test(id)) return id.replace("_", "-");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id));
  const hex = Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `sha-${hex.slice(0, 46)}`;
}

/** The person's channel: every change of their jobs. */
export async function userChannel(userId: string): Promise<string> {
  return `/jobs/users/${await channelSegment(userId)}`;
}

/** The active organization's channel: every change of its members' jobs in it. */
export async function organizationChannel(organizationId: string): Promise<string> {
  return `/jobs/orgs/${await channelSegment(organizationId)}`;
}

/** The last event of a job that left the library (deleted, erased with its person, expired): a live
 * view drops it. It is not a status body: the job has none any more (its status route answers 404). */
export interface DeletedEvent {
  job_id: string;
  kind: Kind;
  status: "deleted";
  updated_at: string;
}

/** What the job's channel pushes: a status body, or the job's last event, `deleted`. */
export type LiveEvent = StatusView | DeletedEvent;

export function isDeleted(event: LiveEvent): event is DeletedEvent {
  return event.status === "deleted";
}

const RANK: Record<StatusView["status"], number> = { queued: 0, processing: 1, completed: 2, failed: 2, canceled: 2 };

/** Whether `incoming` is a newer state of the job than `current`: status only moves forward, then the
 * later `updated_at`, then the higher `progress`. A repeated or late event is not newer. */
export function newer(current: StatusView | null, incoming: StatusView): boolean {
  if (current === null) return true;
  if (current.job_id !== incoming.job_id) return false;
  const rank = RANK[incoming.status] - RANK[current.status];
  if (rank !== 0) return rank > 0;
  const time = Date.parse(incoming.updated_at) - Date.parse(current.updated_at);
  if (time !== 0) return time > 0;
  return incoming.progress > current.progress;
}

export type LiveMode = "live" | "polling";

export interface WatchOptions {
  client: MediagenClient;
  kind: Kind;
  jobId: string;
  /** The channel to listen on: `await userChannel(userId)` (or the organization's). */
  channel: string;
  /** Each newer state of the job, pushed or polled. */
  onStatus: (status: StatusView, source: "push" | "poll") => void;
  /** Every event pushed for this job, newer or not (`onStatus` gets only the newer ones). */
  onPush?: (event: LiveEvent) => void;
  /** The job left the library (deleted, erased, expired): the watch ends, `done` rejects with a 404
   * `MediagenError` (code `deleted`), as a poll of the status route would. Drop it from the view. */
  onDeleted?: (event: DeletedEvent) => void;
  /** "live" while the subscription is up, "polling" while the socket is down (or not up yet). */
  onMode?: (mode: LiveMode) => void;
  /** Polling interval while the socket is down, in ms (default 2000). */
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

export interface JobWatch {
  /** The job's final state (completed, failed or canceled). */
  done: Promise<StatusView>;
  stop: () => void;
}

/** Follow a job to its final state: pushed changes while the socket is up, polling while it is down;
 * on reconnection, one status read catches up with what happened meanwhile. */
export function watchJob(options: WatchOptions): JobWatch {
  const { client, kind, jobId, channel, onStatus, onPush, onDeleted, onMode, pollIntervalMs = 2000, signal } =
    options;
  let latest: StatusView | null = null;
  let mode: LiveMode | null = null;
  let stopped = false;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let retries = 0;
  let connection: Awaited<ReturnType<typeof events.connect>> | undefined;
  let subscription: { unsubscribe: () => void } | undefined;
  let resolveDone!: (status: StatusView) => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<StatusView>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  const setMode = (next: LiveMode) => {
    if (mode !== next) {
      mode = next;
      onMode?.(next);
    }
  };

  const apply = (status: StatusView, source: "push" | "poll") => {
    if (stopped || status.job_id !== jobId || !newer(latest, status)) return;
    latest = status;
    onStatus(status, source);
    if (FINAL_STATUSES.has(status.status)) {
      stop();
      resolveDone(status);
    }
  };

  const pollOnce = async () => {
    try {
      apply(await client.status(kind, jobId), "poll");
    } catch (error) {
      // 503 and 429 are waited out by the next poll; anything else (404: deleted, 401) ends the watch
      if (!(error instanceof MediagenError) || (error.status !== 503 && error.status !== 429)) {
        stop();
        rejectDone(error);
      }
    }
  };

  const startPolling = () => {
    setMode("polling");
    if (pollTimer !== undefined || stopped) return;
    const tick = async () => {
      await pollOnce();
      pollTimer = !stopped && mode === "polling" ? setTimeout(tick, pollIntervalMs) : undefined;
    };
    pollTimer = setTimeout(tick, 0);
  };

  const stopPolling = () => {
    clearTimeout(pollTimer);
    pollTimer = undefined;
  };

  const up = () => {
    if (stopped) return;
    retries = 0;
    setMode("live");
    stopPolling();
    void pollOnce(); // what changed while the socket was down
  };

  const down = () => {
    if (stopped) return;
    startPolling();
    subscription?.unsubscribe();
    subscription = undefined;
    void connection?.close();
    connection = undefined;
    clearTimeout(retryTimer);
    const delay = Math.min(15_000, 1000 * 2 ** retries++) * (0.5 + Math.random() / 2);
    retryTimer = setTimeout(() => void subscribe(), delay);
  };

  const subscribe = async () => {
    if (stopped) return;
    try {
      connection = await events.connect(channel);
      const current = connection.subscribe({
        next: (message: { event: unknown }) => {
          const event = message.event as LiveEvent;
          if (event?.job_id !== jobId) return;
          onPush?.(event);
          if (isDeleted(event)) {
            if (stopped) return;
            stop();
            onDeleted?.(event);
            rejectDone(new MediagenError(404, "deleted", `The ${kind} ${jobId} was deleted.`, undefined, null));
            return;
          }
          apply(event, "push");
        },
        error: () => down(),
      });
      subscription = current;
      await current.ready;
      up();
    } catch {
      down();
    }
  };

  // Amplify reconnects a disrupted socket by itself and subscribes again: poll meanwhile, catch up after.
  const unlisten = Hub.listen("api", ({ payload }) => {
    if (payload.event !== CONNECTION_STATE_CHANGE || stopped) return;
    const state = (payload.data as { connectionState?: ConnectionState } | undefined)?.connectionState;
    if (state === ConnectionState.Connected && mode === "polling" && subscription) up();
    if (
      mode === "live" &&
      (state === ConnectionState.ConnectionDisrupted ||
        state === ConnectionState.ConnectionDisruptedPendingNetwork ||
        state === ConnectionState.Disconnected)
    ) {
      startPolling();
    }
  });

  function stop() {
    if (stopped) return;
    stopped = true;
    stopPolling();
    clearTimeout(retryTimer);
    unlisten();
    subscription?.unsubscribe();
    void connection?.close();
  }

  signal?.addEventListener("abort", () => {
    stop();
    rejectDone(signal.reason);
  });
  startPolling(); // until the subscription is up
  void subscribe();
  return { done, stop };
}
