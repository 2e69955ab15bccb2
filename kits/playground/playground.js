// The playground: the front end's flow, from a browser on another origin than the API's.
// Every call is a cross-origin fetch() with `Authorization: Bearer <token>`: the browser sends a CORS
// preflight first, exactly as for the real front end (kits/frontend has the typed client).

import { newer, subjectOf, subscribe, userChannel } from "./live.js";

const $ = (id) => document.getElementById(id);
let FINAL = new Set(); // the service's final statuses (config.json)
let IN_FLIGHT = []; // its in-flight statuses, in order (config.json)
let api = "";
let events = null; // the live progress endpoint (config.json), or null
// One subscription to the person's channel for the page's session (opened when a token is set), as a
// front end keeps one socket: a job started later misses none of its steps. Watchers get its events.
let live = null;
const watchers = new Set(); // {onEvent(status), catchUp()}
// Fields of a generate request -> the inputs that hold them (a 422 names the field).
const INPUTS = { prompt: "prompt", num_images: "num-images", size: "size", duration_seconds: "duration" };
let current = null; // {kind, jobId}

function log(method, path, status, note = "") {
  const item = document.createElement("li");
  item.textContent = `${method} ${path} -> ${status}${note ? ` (${note})` : ""}`;
  $("log").prepend(item);
}

function showError(message) {
  const status = $("status");
  status.textContent = message;
  status.className = "error";
}

// A 422 lists each field's problem (`errors`: field, message): show every one, by its input.
function showFieldErrors(errors) {
  for (const input of Object.values(INPUTS)) $(input).removeAttribute("aria-invalid");
  const items = (errors || []).map(({ field, message }) => {
    const name = String(field || "").split(".").pop();
    if (INPUTS[name]) $(INPUTS[name]).setAttribute("aria-invalid", "true");
    const item = document.createElement("li");
    item.dataset.field = name;
    item.textContent = name ? `${name}: ${message}` : message;
    return item;
  });
  $("field-errors").replaceChildren(...items);
}

// The fields of the chosen kind only: a video has seconds, not a number of images.
function showKindFields() {
  const kind = $("kind").value;
  for (const label of document.querySelectorAll("[data-kind]")) label.hidden = label.dataset.kind !== kind;
}

async function call(method, path, body) {
  const token = $("token").value.trim();
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`${api}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    log(method, path, "network error", String(error)); // a CORS refusal looks like this too
    throw new Error(`${method} ${path}: no answer (network or CORS): ${error}`);
  }
  const document_ = await response.json().catch(() => ({}));
  log(method, path, response.status, document_.code || "");
  if (!response.ok) {
    const error = new Error(`${response.status} ${document_.code}: ${document_.message}`);
    error.status = response.status;
    error.body = document_;
    throw error;
  }
  return document_;
}

async function mint() {
  const response = await fetch("token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: $("user").value.trim(), org: $("org").value.trim() || null }),
  });
  const answer = await response.json();
  if (!response.ok) return showError(answer.message);
  $("token").value = answer.token;
  $("whoami").textContent = `Token for ${answer.user}${answer.org ? ` in ${answer.org}` : ""}, valid 1 h.`;
  await connectLive();
  await refreshNotifications();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function generate(event) {
  event.preventDefault();
  const kind = $("kind").value;
  const request = { prompt: $("prompt").value, size: $("size").value.trim() || undefined };
  if (kind === "image") request.num_images = Number($("num-images").value);
  else request.duration_seconds = Number($("duration").value);
  showFieldErrors([]);
  $("result").replaceChildren();
  $("status").className = "";
  $("status").dataset.status = "";
  $("status").textContent = "asking for a generation";
  $("progress").value = 0;
  try {
    const answer = await call("POST", `/api/${kind}s/generate`, request);
    current = { kind, jobId: answer.job_id };
    $("cancel").disabled = false;
    await watch(kind, answer.job_id);
  } catch (error) {
    showError(error.message);
    showFieldErrors(error.body?.errors);
  }
}

// Follows the job: pushed over the live progress channel while its socket is up; polled with backoff
// (300 ms, x1.5, at most 2 s) while it is down, as the typed client does. The newest state wins.
async function watch(kind, jobId) {
  let latest = null;
  let gone = false; // its last event said `deleted` (deleted, erased, expired): nothing more to show
  const show = (status, source) => {
    if (status.job_id !== jobId || gone) return;
    if (status.status === "deleted") {
      gone = true;
      $("progress").value = 0;
      $("status").textContent = `${jobId}: deleted (${source})`;
      $("status").dataset.status = "deleted";
      $("status").dataset.source = source;
      return;
    }
    if (!newer(latest, status, IN_FLIGHT)) return;
    latest = status;
    $("progress").value = status.progress;
    $("status").textContent = `${jobId}: ${status.status} ${status.progress}% (${source})`;
    $("status").dataset.status = status.status;
    $("status").dataset.source = source;
    if (source === "push") $("status").dataset.pushed = String(Number($("status").dataset.pushed || 0) + 1);
  };
  const poll = async () => show(await call("GET", `/api/${kind}s/${jobId}/status`), "poll");
  const watcher = { onEvent: (status) => show(status, "push"), catchUp: () => poll().catch(() => {}) };
  watchers.add(watcher);
  let delay = 300;
  try {
    await poll(); // the job as it is now; then its changes by push while the socket is up
    while (!gone && !FINAL.has(latest.status)) {
      if (!live?.isLive()) await poll();
      await sleep(live?.isLive() ? 100 : delay);
      delay = Math.min(2000, delay * 1.5);
    }
  } finally {
    watchers.delete(watcher);
  }
  $("cancel").disabled = true;
  if (gone) return;
  if (latest.status === "completed") await showResult(kind, jobId);
  if (latest.status === "failed") showError(`${jobId} failed: ${latest.error}`);
  await refreshNotifications();
}

// The person's channel on the live progress endpoint; says which channel, and when it is down (then
// the watchers poll, and it tries again in 5 s).
async function connectLive() {
  live?.close();
  live = null;
  const user = subjectOf($("token").value.trim());
  if (!events || !user) {
    $("live").textContent = "Live progress: off (polling the status route).";
    return;
  }
  const token = $("token").value.trim();
  const opened = await openLive(user, token);
  if ($("token").value.trim() === token) live = opened;
  else opened.close();
}

async function openLive(user, token) {
  const channel = await userChannel(user);
  return subscribe({
    realtime: events.realtime,
    endpoint: events.endpoint,
    token,
    channel,
    onEvent: (status) => {
      watchers.forEach((watcher) => watcher.onEvent(status));
      // A job that left the library (deleted elsewhere, erased, expired) leaves the gallery too
      if (status.status === "deleted") dropFromGallery(status.job_id);
    },
    onState: (state, detail) => {
      $("live").dataset.state = state;
      if (state === "live") {
        $("live").textContent = `Live progress: subscribed to ${channel} on ${events.realtime}.`;
        watchers.forEach((watcher) => watcher.catchUp()); // what changed while it was down
      } else if (state === "down") {
        setTimeout(() => {
          if ($("token").value.trim() === token && live && !live.isLive()) connectLive();
        }, 5000);
        $("live").replaceChildren(
          `Live progress: ${channel} unavailable (${detail}); polling the status route instead. `,
          Object.assign(document.createElement("a"), {
            href: events.endpoint,
            target: "_blank",
            textContent: "Trust the local certificate",
          }),
        );
      } else {
        $("live").textContent = `Live progress: connecting to ${channel}...`;
      }
    },
  });
}

async function showResult(kind, jobId) {
  const result = await call("GET", `/api/${kind}s/${jobId}/result`);
  const files = (kind === "image" ? result.images : result.videos) || [];
  const nodes = files.map((file) => {
    const figure = document.createElement("figure");
    const media = document.createElement(kind === "image" ? "img" : "video");
    media.src = file.url; // a short-lived signed URL: no token needed
    if (kind === "video") {
      media.controls = true;
      media.muted = true;
      media.autoplay = true;
      if (file.thumbnail_url) media.poster = file.thumbnail_url;
    } else {
      media.alt = file.description || result.prompt || "";
    }
    media.dataset.index = file.index;
    const caption = document.createElement("figcaption");
    caption.textContent = `${file.width}x${file.height} ${file.format}, ${file.size_bytes} bytes`;
    figure.append(media, caption);
    return figure;
  });
  $("result").replaceChildren(...nodes);
}

async function cancel() {
  if (!current) return;
  try {
    const status = await call("POST", `/api/${current.kind}s/${current.jobId}/cancel`);
    $("status").textContent = `${current.jobId}: ${status.status}`;
  } catch (error) {
    showError(error.message);
  }
}

async function refreshNotifications() {
  if (!$("token").value.trim()) return;
  try {
    const page = await call("GET", "/api/notifications?limit=10");
    $("unread").textContent = `${page.unread_count} unread`;
    $("notification-list").replaceChildren(
      ...page.items.map((item) => {
        const entry = document.createElement("li");
        entry.className = item.read ? "read" : "unread";
        entry.dataset.generationId = item.metadata.generation_id || "";
        entry.textContent = `${item.type}: ${item.title} - ${item.message} `;
        if (!item.read) {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = "mark read";
          button.onclick = async () => {
            await call("POST", `/api/notifications/${encodeURIComponent(item.id)}/read`);
            await refreshNotifications();
          };
          entry.append(button);
        }
        return entry;
      }),
    );
  } catch (error) {
    $("unread").textContent = error.message;
  }
}

// The library: one request a page (each item carries its signed preview URL), `More` follows the opaque
// cursor; `Delete` asks the API to delete the job (its author only), then it leaves the gallery.
let library = { cursor: null, count: 0 };

function libraryQuery(cursor) {
  const query = new URLSearchParams({ limit: "20", scope: $("library-scope").value });
  if ($("library-status").value) query.set("status", $("library-status").value);
  if (cursor) query.set("cursor", cursor);
  return `/api/${$("library-kind").value}s?${query}`;
}

function galleryItem(kind, item) {
  const entry = document.createElement("li");
  entry.dataset.jobId = item.job_id;
  entry.dataset.status = item.status;
  if (item.preview_url) {
    const media = document.createElement(kind === "video" && !item.preview_url.includes(".png") ? "video" : "img");
    media.src = item.preview_url;
    if (media.tagName === "IMG") media.alt = item.prompt || item.job_id;
    entry.append(media);
  }
  const caption = document.createElement("span");
  caption.textContent = `${item.job_id} ${item.status} ${new Date(item.created_at).toISOString()} ${item.source}`;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "delete";
  remove.textContent = "Delete";
  remove.onclick = async () => {
    try {
      await call("DELETE", `/api/${kind}s/${encodeURIComponent(item.job_id)}`);
      entry.remove();
      library.count -= 1;
      showLibrarySummary();
      await refreshNotifications();
    } catch (error) {
      caption.textContent = error.message;
      caption.className = "error";
    }
  };
  entry.append(caption, document.createElement("br"), remove);
  return entry;
}

function dropFromGallery(jobId) {
  for (const entry of document.querySelectorAll("#library li")) {
    if (entry.dataset.jobId !== jobId) continue;
    entry.remove();
    library.count -= 1;
    showLibrarySummary();
  }
}

function showLibrarySummary() {
  $("library-summary").textContent = `${library.count} shown${library.cursor ? ", more on the next page" : ""}`;
}

async function loadLibrary(more = false) {
  if (!$("token").value.trim()) return;
  const kind = $("library-kind").value;
  try {
    const page = await call("GET", libraryQuery(more ? library.cursor : null));
    const nodes = page.items.map((item) => galleryItem(kind, item));
    if (more) $("gallery").append(...nodes);
    else $("gallery").replaceChildren(...nodes);
    library = { cursor: page.next_cursor, count: (more ? library.count : 0) + page.items.length };
    $("library-more").hidden = !page.next_cursor;
    showLibrarySummary();
  } catch (error) {
    $("library-summary").textContent = error.message;
  }
}

async function start() {
  const config = await (await fetch("config.json")).json();
  api = config.api;
  events = config.events || null;
  const rules = config.rules;
  FINAL = new Set(rules.final_statuses);
  IN_FLIGHT = rules.in_flight_statuses;
  $("num-images").max = rules.max_num_images;
  $("duration").max = rules.max_duration_seconds;
  $("prompt").maxLength = rules.max_prompt;
  $("kind").onchange = showKindFields;
  showKindFields();
  $("api").textContent = api;
  $("origin").textContent = window.location.origin;
  if (!config.dev_token) $("dev-token").hidden = true;
  $("mint").onclick = mint;
  $("token").onchange = connectLive; // a pasted token: its person's channel
  $("generate-form").onsubmit = generate;
  $("cancel").onclick = cancel;
  $("refresh").onclick = refreshNotifications;
  for (const status of rules.statuses || [...FINAL, "queued", "processing"]) {
    const option = document.createElement("option");
    option.value = option.textContent = status;
    $("library-status").append(option);
  }
  $("library-refresh").onclick = () => loadLibrary(false);
  $("library-more").onclick = () => loadLibrary(true);
  for (const id of ["library-kind", "library-scope", "library-status"]) $(id).onchange = () => loadLibrary(false);
  document.body.dataset.ready = "true";
}

start();
