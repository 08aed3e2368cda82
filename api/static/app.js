// The page: choose images, follow the job, show the results; draw a digit.
// Wiring only; requests live in api.js, the grid in results.js, the canvas in draw.js.

import {
  ApiError,
  cancelJob,
  correctResult,
  followJob,
  forgetKey,
  jobUrl,
  onKeyNeeded,
  readiness,
  requestBlob,
  requestJson,
  resultsUrl,
  storeKey,
  submitJob,
} from "./api.js";
import { DrawingPad } from "./draw.js";
import { fromDrop, fromFileList, fromFolderList } from "./files.js";
import { LOW_CONFIDENCE, percent, ResultsGrid, summarise } from "./results.js";
import { doubtful, Review } from "./review.js";

const $ = (id) => document.getElementById(id);
const MAX_THUMBS = 35;
// Formats the service reads that most browsers cannot show (HEIC from phones, TIFF from
// scanners: only Safari shows both): a thumbnail that fails to load names the format.
const NO_PREVIEW_FORMATS = /\.(heic|heif|tiff?)$/i;
const READY_RETRY_MS = 5000;

const state = {
  selection: [], // {file, name}
  thumbUrls: [],
  job: null, // {id, urls, controller}
  read: "digit", // the current job's mode
  results: [], // the current job's results, once it has ended
  drawSeq: 0,
};

// --- messages ------------------------------------------------------------------

function showNotice(message, tone = "error") {
  $("notice-text").textContent = message;
  $("notice").dataset.tone = tone;
  $("notice").hidden = false;
}

function hideNotice() {
  $("notice").hidden = true;
}

function messageOf(error) {
  if (error instanceof ApiError) return error.message;
  return `Something went wrong: ${error.message || error}`;
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function bytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(0)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

// --- service readiness -------------------------------------------------------------

let readinessTimer = null;

async function checkReadiness() {
  const { ready, reason } = await readiness();
  const status = $("service-status");
  status.dataset.state = ready ? "ready" : "down";
  $("service-status-text").textContent = ready ? "Ready" : "Not ready";
  status.title = ready ? "The service is ready" : reason;
  $("readiness").hidden = ready;
  if (ready) return;
  $("readiness-text").textContent =
    `The service is not ready: ${reason || "no reason given"}. ` +
    "Jobs sent now wait until it is; this page checks again by itself.";
  clearTimeout(readinessTimer);
  readinessTimer = setTimeout(checkReadiness, READY_RETRY_MS);
}

async function showModelInfo() {
  try {
    const { body } = await requestJson("/api/v1/model", { quiet: true });
    const parts = [];
    if (typeof body?.training_size === "number") {
      parts.push(`Trained on ${body.training_size.toLocaleString("en")} images`);
    }
    if (typeof body?.test_accuracy === "number") {
      parts.push(`${(body.test_accuracy * 100).toFixed(2)}% right on the 10,000 MNIST test digits`);
    }
    if (parts.length) $("model-info").textContent = `${parts.join("; ")}.`;
  } catch {
    // the footer simply says less
  }
}

// --- the API key dialog ---------------------------------------------------------------

let pendingKey = null; // the open dialog's promise, shared by every request waiting for a key
let settleKey = () => {};

function askForKey({ rejected }) {
  if (pendingKey) return pendingKey;
  if (rejected) forgetKey();
  $("key-error").hidden = !rejected;
  $("key-input").value = "";
  pendingKey = new Promise((resolve) => {
    settleKey = (key) => {
      pendingKey = null;
      settleKey = () => {};
      $("key-dialog").close();
      resolve(key);
    };
  });
  $("key-dialog").showModal();
  $("key-input").focus();
  return pendingKey;
}

function wireKeyDialog() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    storeKey(key, $("key-remember").checked);
    settleKey(key);
    showModelInfo();
  });
  $("key-cancel").addEventListener("click", () => settleKey(null));
  $("key-dialog").addEventListener("cancel", (event) => {
    event.preventDefault(); // Escape: the same as Cancel
    settleKey(null);
  });
}

// --- choosing files -----------------------------------------------------------------

function setSelection(entries, skipped = []) {
  clearSelection();
  state.selection = entries;
  const total = entries.reduce((sum, { file }) => sum + file.size, 0);
  let summary = entries.length ? `${plural(entries.length, "file")} selected (${bytes(total)}).` : "";
  if (skipped.length) {
    const names = skipped.slice(0, 3).map((entry) => entry.name).join(", ");
    const more = skipped.length > 3 ? ", …" : "";
    summary += ` Skipped ${plural(skipped.length, "file")} that ${skipped.length === 1 ? "is" : "are"} not an image: ${names}${more}.`;
  }
  $("selection-summary").textContent = summary || "No images found.";
  $("selection").hidden = false;
  $("submit").disabled = entries.length === 0;
  $("submit").textContent = entries.length
    ? `Read ${plural(entries.length, "image")}`
    : "Read the digits";
  renderThumbs(entries);
}

function clearSelection() {
  for (const url of state.thumbUrls) URL.revokeObjectURL(url);
  state.thumbUrls = [];
  state.selection = [];
  $("thumbs").replaceChildren();
  $("selection").hidden = true;
  $("submit").disabled = true;
  $("submit").textContent = "Read the digits";
}

function renderThumbs(entries) {
  const items = entries.slice(0, MAX_THUMBS).map(({ file, name }) => {
    const item = document.createElement("li");
    item.className = "thumb";
    const img = document.createElement("img");
    const url = URL.createObjectURL(file);
    state.thumbUrls.push(url);
    img.src = url;
    img.alt = name;
    img.title = name;
    img.decoding = "async";
    img.addEventListener("error", () => {
      const format = NO_PREVIEW_FORMATS.exec(name);
      item.classList.add(format ? "thumb--nopreview" : "thumb--unreadable");
      img.replaceWith(document.createTextNode(format ? format[1].toUpperCase() : "?"));
    });
    item.append(img);
    return item;
  });
  if (entries.length > MAX_THUMBS) {
    const more = document.createElement("li");
    more.className = "thumb thumb--more";
    more.textContent = `+${entries.length - MAX_THUMBS}`;
    items.push(more);
  }
  $("thumbs").replaceChildren(...items);
}

function wireFileInputs() {
  $("choose-files").addEventListener("click", () => $("file-input").click());
  $("choose-folder").addEventListener("click", () => $("folder-input").click());
  $("file-input").addEventListener("change", (event) => {
    setSelection(fromFileList(event.target.files));
    event.target.value = "";
  });
  $("folder-input").addEventListener("change", (event) => {
    const { images, skipped } = fromFolderList(event.target.files);
    setSelection(images, skipped);
    event.target.value = "";
  });
  $("clear-selection").addEventListener("click", clearSelection);
}

function wireDropzone() {
  const zone = $("dropzone");
  const over = (on) => zone.classList.toggle("dropzone--over", on);
  zone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    over(true);
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    over(true);
  });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) over(false);
  });
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    over(false);
    try {
      const { images, skipped } = await fromDrop(event.dataTransfer);
      setSelection(images, skipped);
    } catch (error) {
      showNotice(`Could not read the dropped files: ${error.message || error}`);
    }
  });
  // A drop beside the zone must not navigate away from the page.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => event.preventDefault());
  }
}

// --- a job --------------------------------------------------------------------------

function setProgress(label, value, max) {
  $("progress-label").textContent = label;
  $("progress").max = Math.max(max, 1);
  $("progress").value = value;
}

function showRunning(job) {
  const failed = job.failed ? `, ${job.failed} failed` : "";
  const word = job.status === "queued" ? "Queued" : "Reading";
  setProgress(`${word}: ${job.processed} of ${job.total}${failed}`, job.processed, job.total);
  $("job-status").textContent =
    job.status === "queued" ? "Waiting for a worker…" : `${job.processed} of ${job.total} done${failed}.`;
}

function setJobLinks(id) {
  $("job-id").textContent = id.slice(0, 8);
  $("job-id").title = id;
  $("job-link").href = jobUrl(id);
  const short = id.slice(0, 8);
  for (const format of ["json", "csv"]) {
    const link = $(`download-${format}`);
    link.href = resultsUrl(id, format);
    link.download = `mnistq-${short}.${format}`;
    link.hidden = false;
  }
  $("job-link").hidden = false;
}

function hideJobLinks() {
  $("job-id").textContent = "";
  for (const id of ["job-link", "download-json", "download-csv"]) $(id).hidden = true;
}

// Downloads go through fetch so the API key travels in a header; saved from a Blob.
async function download(event) {
  event.preventDefault();
  const link = event.currentTarget;
  try {
    const blob = await requestBlob(link.getAttribute("href"));
    const url = URL.createObjectURL(blob);
    const save = document.createElement("a");
    save.href = url;
    save.download = link.download;
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    showNotice(`The download failed. ${messageOf(error)}`);
  }
}

function endMessage(job) {
  const failed = job.failed || 0;
  const read = job.processed - failed;
  if (job.status === "succeeded") {
    return failed
      ? `Done: ${plural(read, "image")} read, ${failed} could not be read.`
      : `Done: all ${plural(read, "image")} read.`;
  }
  if (job.status === "cancelled") {
    return `The job was cancelled after ${job.processed} of ${job.total} images; the rest were skipped.`;
  }
  return "The job failed on the service. Try again, or send fewer files.";
}

function showEnded(job, urls) {
  $("cancel-job").hidden = true;
  const label = job.status === "succeeded" ? "Done" : job.status === "cancelled" ? "Cancelled" : "Failed";
  setProgress(`${label}: ${job.processed} of ${job.total}`, job.processed, job.total);
  $("job").dataset.status = job.status;
  const message = endMessage(job);
  $("job-status").textContent = message;
  if (job.status !== "succeeded") showNotice(message, job.status === "cancelled" ? "warning" : "error");
  showResults(job.results || [], urls);
}

function showResults(results, urls) {
  state.results = results;
  const toReview = doubtful(results).length;
  $("review-start").hidden = toReview === 0;
  $("review-start").textContent = `Review ${plural(toReview, "doubtful reading")}`;
  const counts = summarise(results);
  const parts = [`${plural(results.length, "image")}`, `${counts.ok} confident`];
  if (counts.low) parts.push(`${counts.low} low confidence`);
  if (counts.error) parts.push(`${counts.error} could not be read`);
  $("results-summary").textContent = `${parts.join(" · ")}.`;
  grid.show(results, (index) => urls[index] || null);
  $("results").hidden = results.length === 0;
}

// The API's limits, given by the page; a multipart part costs some bytes beyond the file.
// Without them the API's own 413 says the same, after the upload.
const PART_OVERHEAD = 256;

function uploadLimits() {
  const { maxFiles, maxUploadBytes } = document.body.dataset;
  return { files: Number(maxFiles) || Infinity, bytes: Number(maxUploadBytes) || Infinity };
}

function tooLarge(entries) {
  const limits = uploadLimits();
  if (entries.length > limits.files) {
    return `That is too many files for one job: ${entries.length}, the service takes at most ${limits.files}. Send them in smaller batches.`;
  }
  const size = entries.reduce((sum, { file }) => sum + file.size + PART_OVERHEAD, 0);
  if (size > limits.bytes) {
    return `That upload is too large: ${bytes(size)}, the service takes at most ${bytes(limits.bytes)} per job. Send fewer or smaller files at a time.`;
  }
  return "";
}

async function runJob(entries) {
  hideNotice();
  if (state.job) {
    state.job.controller.abort(); // stop following the previous job
    for (const url of state.job.urls) URL.revokeObjectURL(url);
  }
  const controller = new AbortController();
  const urls = entries.map(({ file }) => URL.createObjectURL(file));
  state.job = { id: null, urls, controller };
  $("job").hidden = false;
  $("job").dataset.status = "uploading";
  $("results").hidden = true;
  review.close();
  state.results = [];
  $("review-start").hidden = true;
  state.read = $("upload-form").elements.read.value === "number" ? "number" : "digit";
  grid.clear();
  hideJobLinks();
  $("cancel-job").hidden = false;
  const motion = matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
  $("job").scrollIntoView({ behavior: motion, block: "nearest" }); // below the fold on a phone
  setProgress(`Uploading ${plural(entries.length, "file")}…`, 0, 1);
  $("job-status").textContent = "Uploading…";

  try {
    await ensureKey();
    const onProgress = (fraction) => setProgress(`Uploading: ${Math.round(fraction * 100)}%`, fraction, 1);
    const { read } = state;
    const { body } = await submitJob(entries, { wait: 2, onProgress, signal: controller.signal, read });
    state.job.id = body.id;
    setJobLinks(body.id);
    let job = body;
    if (!job.results) {
      showRunning({ processed: 0, failed: 0, ...job });
      job = await followJob(body.id, { onUpdate: showRunning, signal: controller.signal });
    }
    showEnded(job, urls);
  } catch (error) {
    if (error.name === "AbortError") return;
    $("cancel-job").hidden = true;
    $("job").dataset.status = "error";
    setProgress("Not sent", 0, 1);
    $("job-status").textContent = messageOf(error);
    showNotice(messageOf(error));
    if (error.status === 503) checkReadiness();
  }
}

// When the API needs a key and none is stored, ask before sending a big upload, not after.
async function ensureKey() {
  try {
    await requestJson("/api/v1/model");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw error;
  }
}

async function cancelCurrentJob() {
  const job = state.job;
  if (!job) return;
  $("cancel-job").disabled = true;
  try {
    if (!job.id) {
      job.controller.abort();
      $("job").dataset.status = "cancelled";
      $("cancel-job").hidden = true;
      setProgress("Upload cancelled", 0, 1);
      $("job-status").textContent = "The upload was cancelled; nothing was sent.";
      return;
    }
    $("job-status").textContent = "Cancelling…";
    await cancelJob(job.id); // the long-poll then sees the job end as cancelled
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 409)) showNotice(messageOf(error));
  } finally {
    $("cancel-job").disabled = false;
  }
}

function wireJob() {
  $("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.selection.length === 0) return;
    const entries = state.selection;
    const refusal = tooLarge(entries);
    if (refusal) {
      showNotice(refusal); // the selection stays, to be trimmed or cleared
      return;
    }
    // The thumbnails' URLs are revoked; the job keeps its own for the results.
    clearSelection();
    runJob(entries);
  });
  $("cancel-job").addEventListener("click", cancelCurrentJob);
  $("download-json").addEventListener("click", download);
  $("download-csv").addEventListener("click", download);
  $("only-problems").addEventListener("change", (event) => grid.setOnlyProblems(event.target.checked));
  $("review-start").addEventListener("click", startReview);
  $("notice-close").addEventListener("click", hideNotice);
}

// --- review -------------------------------------------------------------------------

function startReview() {
  const job = state.job;
  if (!job?.id || !state.results.length) return;
  hideNotice();
  $("results").hidden = true;
  review.start(state.results, (index) => job.urls[index] || null, state.read);
}

// Back from the review: the grid shows the corrections, focus returns to the button.
function endReview() {
  $("results").hidden = false;
  grid.render();
  $("review-start").focus();
}

function saveCorrection(index, correction) {
  return correctResult(state.job.id, index, correction);
}

// --- drawing ----------------------------------------------------------------------

function showDrawing(digit, detail, tone = "") {
  $("draw-digit").textContent = digit;
  $("draw-detail").textContent = detail;
  $("draw-result").dataset.tone = tone;
}

async function predictDrawing(pad) {
  if (pad.empty) return;
  const seq = ++state.drawSeq;
  $("draw-result").setAttribute("aria-busy", "true");
  $("draw-detail").textContent = "Reading…";
  try {
    const file = await pad.toFile();
    let { body: job } = await submitJob([{ file, name: "drawing.png" }], { wait: 10 });
    if (!job.results) job = await followJob(job.id, { wait: 5 });
    if (seq !== state.drawSeq) return; // a newer stroke asked again
    const result = job.results?.[0];
    if (!result || result.error || result.prediction === null) {
      showDrawing("?", result?.error || "No digit found. Try drawing it bigger.", "error");
    } else {
      const runner = result.runner_up === null ? "" : `, else ${result.runner_up}`;
      const tone = result.confidence < LOW_CONFIDENCE ? "low" : "ok";
      showDrawing(String(result.prediction), `${percent(result.confidence)} sure${runner}`, tone);
    }
  } catch (error) {
    if (seq === state.drawSeq) showDrawing("?", messageOf(error), "error");
  } finally {
    if (seq === state.drawSeq) $("draw-result").removeAttribute("aria-busy");
  }
}

function wireDrawing() {
  let timer = null;
  const pad = new DrawingPad($("canvas"), {
    onStrokeEnd: () => {
      clearTimeout(timer);
      timer = setTimeout(() => predictDrawing(pad), 250);
    },
  });
  $("clear-canvas").addEventListener("click", () => {
    clearTimeout(timer);
    state.drawSeq += 1;
    pad.clear();
    showDrawing("?", "Nothing drawn yet");
  });
}

// --- start ------------------------------------------------------------------------

const grid = new ResultsGrid($("grid"), $("show-more"));
const review = new Review({ save: saveCorrection, onLeave: endReview });

onKeyNeeded(askForKey);
wireKeyDialog();
wireFileInputs();
wireDropzone();
wireJob();
wireDrawing();
hideJobLinks();
checkReadiness();
showModelInfo();
