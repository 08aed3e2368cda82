// The results grid: one card per image, with its digit, confidence and runner-up,
// or the reason it could not be read. Built with DOM calls only (no HTML strings).

// MNISTQ_REVIEW_BELOW, handed to the page by the server.
export const LOW_CONFIDENCE = Number(document.body.dataset.reviewBelow ?? 0.9);
const PAGE_SIZE = 200;
const EAGER_IMAGES = 40; // the first screenfuls load at once, the rest as they scroll in

export function kindOf(result) {
  if (result.error) return "error";
  if (typeof result.text === "string") {
    return result.digits.some((d) => d.confidence < LOW_CONFIDENCE) ? "low" : "ok";
  }
  if (result.prediction === null || result.prediction === undefined) return "error";
  return result.confidence < LOW_CONFIDENCE ? "low" : "ok";
}

export function percent(confidence) {
  if (confidence === null || confidence === undefined) return "";
  const value = confidence * 100;
  return value > 99.5 && value < 100 ? ">99%" : `${Math.round(value)}%`;
}

// One digit of a number as the card and the review name it: "digit 4: 9 60%, runner-up 8".
export function digitLine(digit, index) {
  return `digit ${index + 1}: ${digit.prediction} ${percent(digit.confidence)}, runner-up ${digit.runner_up}`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

// The box of the digit read, over the thumbnail: an SVG laid over the image with the same
// inset and the image's own pixel grid, scaled as object-fit: contain scales the image.
// In number mode, one box per digit, the digit read written under it (low ones marked).
function boxOverlay(img, box, digits) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "card__overlay");
  svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  svg.setAttribute("aria-hidden", "true");
  const boxes = Array.isArray(digits) ? digits : [{ box }];
  for (const digit of boxes) {
    const [x, y, width, height] = digit.box;
    const rect = document.createElementNS(SVG, "rect");
    const low = digit.confidence !== undefined && digit.confidence < LOW_CONFIDENCE;
    rect.setAttribute("class", low ? "card__box card__box--low" : "card__box");
    rect.setAttribute("x", String(x));
    rect.setAttribute("y", String(y));
    rect.setAttribute("width", String(width));
    rect.setAttribute("height", String(height));
    rect.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(rect);
    if (digit.prediction !== undefined) {
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("class", low ? "card__label card__label--low" : "card__label");
      label.setAttribute("x", String(x + width / 2));
      label.setAttribute("y", String(Math.min(y + height + height * 0.35, img.naturalHeight)));
      label.setAttribute("font-size", String(Math.max(8, height * 0.35)));
      label.setAttribute("text-anchor", "middle");
      label.textContent = String(digit.prediction);
      svg.append(label);
    }
  }
  return svg;
}

export function thumbnail(url, name, eager, box, digits) {
  const figure = element("div", "card__figure");
  if (!url) {
    figure.append(element("span", "card__noimage", "no preview"));
    return figure;
  }
  const img = element("img", "card__img");
  img.alt = name;
  img.loading = eager ? "eager" : "lazy";
  img.decoding = "async";
  img.src = url;
  img.addEventListener("load", () => {
    if (img.naturalWidth < 96) img.classList.add("card__img--pixelated");
    if (Array.isArray(digits) && digits.length) figure.append(boxOverlay(img, box, digits));
    else if (Array.isArray(box) && box.length === 4) figure.append(boxOverlay(img, box));
  });
  img.addEventListener("error", () => img.replaceWith(element("span", "card__noimage", "no preview")));
  figure.append(img);
  return figure;
}

// What was read, large, with its confidence as text and as a bar (digit and number cards).
function readingBody(label, valueClass, value, confidence) {
  const body = document.createDocumentFragment();
  const line = element("p", "card__prediction");
  line.append(
    element("span", "visually-hidden", label),
    element("span", valueClass, value),
    element("span", "visually-hidden", ", confidence "),
    element("span", "card__confidence", percent(confidence)),
  );
  const bar = element("div", "card__bar");
  bar.setAttribute("aria-hidden", "true");
  bar.style.setProperty("--confidence", String(confidence));
  body.append(line, bar);
  return body;
}

function predictionBody(result, kind) {
  const body = readingBody("Predicted digit ", "card__digit", String(result.prediction),
    result.confidence);
  if (result.runner_up !== null && result.runner_up !== undefined) {
    body.append(element("p", "card__runner", `runner-up ${result.runner_up}`));
  }
  if (kind === "low") body.append(element("p", "badge badge--low", "Low confidence"));
  return body;
}

function numberBody(result, kind) {
  const body = readingBody("Number read ", "card__digit card__number", result.text,
    result.confidence);
  body.querySelector(".card__number").style.setProperty("--digits", String(result.text.length));
  if (kind !== "low") return body;
  // The badge as for one digit; under it, each doubtful digit on a line of its own.
  body.append(element("p", "badge badge--low", "Low confidence"));
  result.digits.forEach((d, i) => {
    if (d.confidence < LOW_CONFIDENCE) body.append(element("p", "card__runner", digitLine(d, i)));
  });
  return body;
}

function errorBody(result) {
  const body = document.createDocumentFragment();
  body.append(element("p", "badge badge--error", "Could not read"));
  body.append(element("p", "card__error", result.error || "no prediction"));
  return body;
}

export function card(result, url, { eager = false } = {}) {
  const kind = kindOf(result);
  const item = element("li", `card card--${kind}`);
  item.dataset.index = String(result.index);
  item.dataset.filename = result.filename;
  item.dataset.kind = kind;
  const number = typeof result.text === "string";
  if (kind !== "error") item.dataset.prediction = number ? result.text : String(result.prediction);
  const body = element("div", "card__body");
  const read = number ? numberBody(result, kind) : predictionBody(result, kind);
  body.append(kind === "error" ? errorBody(result) : read);
  if (result.corrected !== undefined && result.corrected !== null) {
    item.dataset.corrected = String(result.corrected);
    body.append(element("p", "badge badge--corrected", `Corrected: ${result.corrected}`));
  }
  const name = element("p", "card__name", result.filename);
  name.title = result.filename;
  body.append(name);
  item.append(thumbnail(url, result.filename, eager, result.box, result.digits), body);
  return item;
}

export function summarise(results) {
  const counts = { ok: 0, low: 0, error: 0 };
  for (const result of results) counts[kindOf(result)] += 1;
  return counts;
}

// Shows results a page at a time, so ten thousand images do not freeze the browser.
export class ResultsGrid {
  constructor(list, moreButton) {
    this.list = list;
    this.moreButton = moreButton;
    this.results = [];
    this.urlFor = () => null;
    this.onlyProblems = false;
    this.shown = 0;
    moreButton.addEventListener("click", () => this.showMore());
  }

  show(results, urlFor) {
    this.results = results;
    this.urlFor = urlFor;
    this.render();
  }

  setOnlyProblems(value) {
    this.onlyProblems = value;
    this.render();
  }

  visible() {
    return this.onlyProblems ? this.results.filter((r) => kindOf(r) !== "ok") : this.results;
  }

  render() {
    this.list.replaceChildren();
    this.shown = 0;
    this.showMore();
  }

  showMore() {
    const visible = this.visible();
    if (visible.length === 0 && this.results.length > 0) {
      this.list.append(element("li", "grid__empty", "Nothing to check: every image was read with confidence."));
    }
    const next = visible.slice(this.shown, this.shown + PAGE_SIZE);
    const eagerUpTo = this.shown === 0 ? EAGER_IMAGES : 0;
    const cards = next.map((result, i) =>
      card(result, this.urlFor(result.index), { eager: i < eagerUpTo }),
    );
    this.list.append(...cards);
    this.shown += next.length;
    const left = visible.length - this.shown;
    this.moreButton.hidden = left <= 0;
    this.moreButton.textContent = `Show ${Math.min(left, PAGE_SIZE)} more (${left} left)`;
  }

  clear() {
    this.results = [];
    this.render();
  }
}
