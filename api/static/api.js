// The JSON API on the same origin: requests with the API key when there is one,
// errors as ApiError with a message a person can read.

const KEY_NAME = "mnistq.apiKey";

export class ApiError extends Error {
  constructor(status, message, { retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

// --- the API key -----------------------------------------------------------

export function storedKey() {
  return sessionStorage.getItem(KEY_NAME) || localStorage.getItem(KEY_NAME) || "";
}

export function storeKey(key, remember) {
  forgetKey();
  (remember ? localStorage : sessionStorage).setItem(KEY_NAME, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_NAME);
  localStorage.removeItem(KEY_NAME);
}

let askForKey = async () => null; // replaced by the page: resolves to a key, or null

export function onKeyNeeded(callback) {
  askForKey = callback;
}

function authHeaders() {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// --- messages ----------------------------------------------------------------

const STATUS_MESSAGES = {
  400: "The request was not accepted.",
  401: "This service needs an API key.",
  404: "That job does not exist any more (jobs expire after a while).",
  409: "The job had already ended.",
  413: "That upload is too large for the service. Send fewer or smaller files at a time.",
  429: "The queue is full right now.",
  503: "The service is not ready.",
};

function readableMessage(status, body) {
  const detail = body && typeof body.error === "string" ? body.error : "";
  const base = STATUS_MESSAGES[status] || `The service answered ${status}.`;
  if (!detail) return base;
  if (status === 413 || status === 429 || status === 503) return `${base} (${detail})`;
  return detail;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorFrom(status, text, retryAfterHeader) {
  const retryAfter = retryAfterHeader ? Number.parseInt(retryAfterHeader, 10) : null;
  let message = readableMessage(status, parseJson(text));
  if (status === 429 && retryAfter) message += ` Try again in ${retryAfter} s.`;
  return new ApiError(status, message, { retryAfter });
}

// --- requests ----------------------------------------------------------------

// Runs `attempt()` (a function making one request); when it answers 401,
// asks for a key and tries again, until a key works or the person gives up.
// With `quiet`, a 401 is simply returned.
async function withKey(attempt, { quiet = false } = {}) {
  for (;;) {
    const result = await attempt();
    if (result.status !== 401 || quiet) return result;
    // a stored key was sent and refused: typed just now, or kept from an earlier visit
    const key = await askForKey({ rejected: Boolean(storedKey()) });
    if (!key) throw new ApiError(401, STATUS_MESSAGES[401]);
  }
}

async function fetchOnce(path, { method = "GET", body = null, signal, headers = {} } = {}) {
  let response;
  try {
    response = await fetch(path, { method, body, signal, headers: { ...authHeaders(), ...headers } });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The service cannot be reached. Is it running?");
  }
  return response;
}

// A request answering JSON; throws ApiError for anything but 2xx.
export async function requestJson(path, options = {}) {
  const response = await withKey(() => fetchOnce(path, options), options);
  const text = await response.text();
  if (!response.ok) {
    throw errorFrom(response.status, text, response.headers.get("Retry-After"));
  }
  return { status: response.status, body: parseJson(text) };
}

// A request answering a file; resolves to a Blob.
export async function requestBlob(path) {
  const response = await withKey(() => fetchOnce(path));
  if (!response.ok) {
    throw errorFrom(response.status, await response.text(), response.headers.get("Retry-After"));
  }
  return response.blob();
}

// /readyz answers 200 or 503 with a reason; never throws.
export async function readiness() {
  try {
    const response = await fetch("/readyz", { cache: "no-store" });
    const body = parseJson(await response.text()) || {};
    const reason = (body.error || body.reason || "").replace(/^not ready:\s*/i, "");
    return { ready: response.ok, reason };
  } catch {
    return { ready: false, reason: "the service cannot be reached" };
  }
}

// --- uploads -----------------------------------------------------------------

function formFor(entries, read) {
  const form = new FormData();
  if (read === "number") form.append("read", "number");
  for (const { file, name } of entries) form.append("files", file, name);
  return form;
}

function xhrOnce(path, form, { onProgress, signal }) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException("Upload cancelled", "AbortError"));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () =>
      resolve({
        status: xhr.status,
        text: xhr.responseText,
        retryAfter: xhr.getResponseHeader("Retry-After"),
      }),
    );
    xhr.addEventListener("error", () =>
      reject(
        new ApiError(0, "The upload failed: the connection was closed. Is the service running, and the upload within its limits?"),
      ),
    );
    xhr.addEventListener("abort", () => reject(new DOMException("Upload cancelled", "AbortError")));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

// Uploads files as one job. `entries` are {file, name}. Resolves to
// {status: 200 (finished within `wait`) or 202, body: the job}.
export async function submitJob(entries, { wait = 0, onProgress, signal, read = "digit" } = {}) {
  const form = formFor(entries, read);
  const path = wait > 0 ? `/api/v1/jobs?wait=${wait}` : "/api/v1/jobs";
  const result = await withKey(() => xhrOnce(path, form, { onProgress, signal }));
  if (result.status < 200 || result.status >= 300) {
    throw errorFrom(result.status, result.text, result.retryAfter);
  }
  return { status: result.status, body: parseJson(result.text) };
}

// --- jobs ----------------------------------------------------------------------

export const jobUrl = (id) => `/api/v1/jobs/${encodeURIComponent(id)}`;
export const resultsUrl = (id, format) => `${jobUrl(id)}/results?format=${format}`;

export function getJob(id, { wait = 0, signal } = {}) {
  const query = wait > 0 ? `?wait=${wait}` : "";
  return requestJson(`${jobUrl(id)}${query}`, { signal }).then((r) => r.body);
}

export function cancelJob(id) {
  return requestJson(jobUrl(id), { method: "DELETE" }).then((r) => r.body);
}

// A person's reading of one result: `{label}` for a digit, `{text}` for a number. Resolves
// to the result with its `corrected`.
export function correctResult(id, index, correction) {
  return requestJson(`${jobUrl(id)}/results/${index}`, {
    method: "PUT",
    body: JSON.stringify(correction),
    headers: { "Content-Type": "application/json" },
  }).then((r) => r.body);
}

export const ENDED = new Set(["succeeded", "cancelled", "failed"]);

// Follows a job until it ends; `onUpdate(job)` on every change. First its event stream
// (progress pushed as it happens); when the stream is refused (503: too many streams) or
// breaks, long-polling: each request waits up to `wait` seconds on the server, so this is
// never a tight loop, and a lost connection or a 503 (Redis restarting) is retried a few
// times, a little later. The ended job (with results) comes from the last GET.
export async function followJob(id, { onUpdate, signal, wait = 2 } = {}) {
  try {
    await streamJob(id, { onUpdate, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error; // else: long-polling takes over
  }
  let failures = 0;
  for (;;) {
    let job;
    try {
      job = await getJob(id, { wait, signal });
    } catch (error) {
      const transient = error instanceof ApiError && [0, 502, 503, 504].includes(error.status);
      if (!transient || ++failures > 10) throw error;
      await pause(Math.min(1000 * failures, 5000), signal);
      continue;
    }
    failures = 0;
    onUpdate?.(job);
    if (ENDED.has(job.status)) return job;
  }
}

// Reads `GET /jobs/<id>/events` until its `end` event. With fetch rather than EventSource,
// which cannot send the API key's Authorization header.
async function streamJob(id, { onUpdate, signal }) {
  const headers = { ...authHeaders(), Accept: "text/event-stream" };
  const response = await fetch(`${jobUrl(id)}/events`, { signal, headers });
  if (!response.ok || !response.body) {
    throw new ApiError(response.status, "no event stream");
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let job = { id };
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new ApiError(0, "the event stream closed before the job ended");
    buffer += value.replaceAll("\r\n", "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const fields = {};
      for (const line of buffer.slice(0, cut).split("\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
      }
      buffer = buffer.slice(cut + 2);
      if (fields.event !== "progress" && fields.event !== "end") continue;
      job = { ...job, ...JSON.parse(fields.data) };
      onUpdate?.(job);
      if (fields.event === "end") {
        reader.cancel().catch(() => {});
        return job;
      }
    }
  }
}

function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(new DOMException("Stopped", "AbortError"));
      },
      { once: true },
    );
  });
}
