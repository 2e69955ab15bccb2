// Live progress in the playground: the AppSync Events WebSocket protocol, spoken by the browser's own
// WebSocket (the front-end kit uses aws-amplify's `events` client for the same thing): the
// `aws-appsync-event-ws` protocol, the token in the `header-<base64url JSON>` sub-protocol,
// connection_init, then one subscription to the person's channel; `data` messages carry status bodies.

const CLERK_ID = /^(user|org)_[A-Za-z0-9]+$/;

/** The person's channel, as the service names it: a Clerk id's `_` becomes `-` (user_1 -> user-1). */
export async function userChannel(userId) {
  if (userId.length <= 50 && CLERK_ID.test(userId)) return `/jobs/users/${userId.replace("_", "-")}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(userId));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return `/jobs/users/sha-${hex.slice(0, 46)}`;
}

/** The `sub` of a token (read, not verified: the service verifies it). */
export function subjectOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).sub || null;
  } catch {
    return null;
  }
}

const base64url = (text) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** Subscribe to `channel`; `onEvent(status)` for each pushed status body, `onState(state, detail)` with
 * "connecting", "live" or "down". Returns {isLive(), close()}. */
export function subscribe({ realtime, endpoint, token, channel, onEvent, onState }) {
  const host = new URL(endpoint).host;
  const authorization = { Authorization: token, host };
  let live = false;
  let closed = false;
  let down = false;
  const fail = (detail) => {
    live = false;
    if (down || closed) return; // reported once, and never after close()
    down = true;
    onState("down", detail);
  };
  onState("connecting", channel);
  const socket = new WebSocket(realtime, ["aws-appsync-event-ws", `header-${base64url(JSON.stringify(authorization))}`]);
  socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init" }));
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "connection_ack") {
      socket.send(JSON.stringify({ type: "subscribe", id: crypto.randomUUID(), channel, authorization }));
    } else if (data.type === "subscribe_success") {
      live = true;
      onState("live", channel);
    } else if (data.type === "data") {
      onEvent(JSON.parse(data.event));
    } else if (data.type.endsWith("error")) {
      fail(data.errors?.[0]?.message || data.type);
      socket.close();
    }
  };
  socket.onclose = () => fail("the socket closed");
  return {
    isLive: () => live,
    close: () => {
      closed = true;
      socket.close();
    },
  };
}

/** Whether `incoming` is newer than `current` (events may come twice or out of order): a later status
 * (`inFlight`: the service's in-flight statuses in order, config.json; then any final one), then a later
 * `updated_at`, then a higher `progress`. */
export function newer(current, incoming, inFlight) {
  if (!current) return true;
  const rank = (status) => (inFlight.includes(status) ? inFlight.indexOf(status) : inFlight.length);
  const order = rank(incoming.status) - rank(current.status);
  if (order !== 0) return order > 0;
  const time = Date.parse(incoming.updated_at) - Date.parse(current.updated_at);
  if (time !== 0) return time > 0;
  return incoming.progress > current.progress;
}
