// Review mode: the doubtful results of a job (errors first, then low confidence), one at a
// time and large, for a person to correct from the keyboard: 0-9 correct, Enter confirms the
// machine's reading, the arrows move, Escape leaves. Each answer is sent at once
// (PUT /api/v1/jobs/<id>/results/<index>) and kept by the service.

import { digitLine, kindOf, percent, thumbnail } from "./results.js";

const $ = (id) => document.getElementById(id);

const DIGIT_KEYS = new Set(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);

// The results a person should look at, errors first, each group in upload order.
export function doubtful(results) {
  const errors = results.filter((r) => kindOf(r) === "error");
  const low = results.filter((r) => kindOf(r) === "low");
  return [...errors, ...low];
}

const isReviewed = (result) => result.corrected !== undefined && result.corrected !== null;

export class Review {
  // `save(index, correction)` sends one correction and resolves to the updated result;
  // `onLeave()` runs when the person leaves (the grid then shows the corrections).
  constructor({ save, onLeave }) {
    this.save = save;
    this.onLeave = onLeave;
    this.items = [];
    this.position = 0;
    this.number = false; // number mode: a text per result, typed digit by digit
    this.typed = ""; // number mode: the digits typed so far
    this.busy = false;
    this.urlFor = () => null;
    this.section = $("review");
    this.section.addEventListener("keydown", (event) => this.onKey(event));
    $("review-close").addEventListener("click", () => this.leave());
  }

  get open() {
    return !this.section.hidden;
  }

  // Shows the review of `results` (the job's, in upload order; `read`: the job's mode), from
  // the first not reviewed yet.
  start(results, urlFor, read) {
    this.items = doubtful(results);
    this.urlFor = urlFor;
    this.number = read === "number";
    if (this.items.length === 0) return false;
    const next = this.items.findIndex((r) => !isReviewed(r));
    this.position = next >= 0 ? next : 0;
    this.section.hidden = false;
    this.show();
    this.section.focus();
    return true;
  }

  leave() {
    if (!this.open) return;
    this.close();
    this.onLeave?.();
  }

  // Hides the review without handing back (a new job replaces the results).
  close() {
    this.section.hidden = true;
    this.items = [];
  }

  reviewedCount() {
    return this.items.filter(isReviewed).length;
  }

  show(message = "") {
    const result = this.items[this.position];
    const { number } = this;
    this.typed = "";
    $("review-progress").textContent = `${this.reviewedCount()} of ${this.items.length} reviewed`;
    $("review-position").textContent = `Image ${this.position + 1} of ${this.items.length}`;
    $("review-filename").textContent = result.filename;
    $("review-figure").replaceChildren(
      thumbnail(this.urlFor(result.index), result.filename, true, result.box, result.digits),
    );
    const error = kindOf(result) === "error";
    $("review-reading").hidden = error;
    $("review-error").hidden = !error;
    if (error) {
      $("review-error").textContent = `Could not be read: ${result.error || "no prediction"}`;
    } else {
      $("review-digit").textContent = number ? result.text : String(result.prediction);
      $("review-confidence").textContent = percent(result.confidence);
      $("review-runner").textContent = number ? runnersUp(result) : `runner-up ${result.runner_up}`;
    }
    $("review-corrected").textContent = isReviewed(result) ? `You said ${result.corrected}.` : "";
    $("review-typed").hidden = !number;
    $("review-typed").textContent = number ? "Type the number, then Enter." : "";
    $("review-message").textContent = message;
    this.section.dataset.index = String(result.index);
    this.section.dataset.kind = kindOf(result);
  }

  move(step) {
    const next = this.position + step;
    if (next < 0 || next >= this.items.length) {
      $("review-message").textContent = next < 0 ? "This is the first one." : "This is the last one.";
      return;
    }
    this.position = next;
    this.show();
  }

  async answer(correction) {
    const result = this.items[this.position];
    this.busy = true;
    this.section.setAttribute("aria-busy", "true");
    try {
      const updated = await this.save(result.index, correction);
      result.corrected = updated.corrected;
      const done = this.reviewedCount() === this.items.length;
      if (this.position < this.items.length - 1) {
        this.position += 1;
        this.show(done ? "All reviewed. Escape leaves." : "");
      } else {
        this.show(done ? "All reviewed. Escape leaves." : "That was the last one.");
      }
    } catch (error) {
      $("review-message").textContent = error.message || String(error);
    } finally {
      this.busy = false;
      this.section.removeAttribute("aria-busy");
    }
  }

  onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const result = this.items[this.position];
    if (!result) return;
    const { number } = this;
    const { key } = event;
    // Enter or Space on a button inside the review (Leave review) is that button's.
    if (event.target !== this.section && (key === "Enter" || key === " ")) return;
    let handled = true;
    if (key === "Escape") this.leave();
    else if (key === "ArrowRight" || key === "ArrowDown") this.move(1);
    else if (key === "ArrowLeft" || key === "ArrowUp") this.move(-1);
    else if (this.busy) handled = DIGIT_KEYS.has(key) || key === "Enter";
    else if (DIGIT_KEYS.has(key) && !number) this.answer({ label: Number(key) });
    else if (DIGIT_KEYS.has(key)) this.type(this.typed + key);
    else if (key === "Backspace" && number) this.type(this.typed.slice(0, -1));
    else if (key === "Enter") this.confirm(result, number);
    else handled = false;
    if (handled) event.preventDefault();
  }

  type(text) {
    this.typed = text;
    $("review-typed").textContent = text ? `Typed: ${text} (Enter sends it)` : "Type the number, then Enter.";
  }

  // Enter: the number typed, else the machine's reading as it is.
  confirm(result, number) {
    if (number && this.typed) this.answer({ text: this.typed });
    else if (kindOf(result) === "error") {
      $("review-message").textContent = number
        ? "Type the number, then Enter."
        : "Nothing was read here: type the digit, or move on.";
    } else this.answer(number ? { text: result.text } : { label: result.prediction });
  }
}

function runnersUp(result) {
  return result.digits.map(digitLine).join("; ");
}
