// The results grid: one card per image, with its digit, confidence and runner-up,
// or the reason it could not be read. Built with DOM calls only (no HTML strings).

// MNISTQ_REVIEW_BELOW, handed to the page by the server.
export const LOW_CONFIDENCE = Number(document.body.dataset.reviewBelow ?? 0.9);
const PAGE_SIZE = 200;
const EAGER_IMAGES = 40; // the first screenfuls load at once, the rest as they scroll in

export function kindOf(result) {
  if (result.error || result.prediction === null || result.prediction === undefined) return "error";
  return result.confidence < LOW_CONFIDENCE ? "low" : "ok";
}

export function percent(confidence) {
  if (confidence === null || confidence === undefined) return "";
  const value = confidence * 100;
  return value > 99.5 && value < 100 ? ">99%" : `${Math.round(value)}%`;
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
function boxOverlay(img, box) {
  const [x, y, width, height] = box;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "card__overlay");
  svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  svg.setAttribute("aria-hidden", "true");
  const rect = document.createElementNS(SVG, "rect");
  rect.setAttribute("class", "card__box");
  rect.setAttribute("x", String(x));
  rect.setAttribute("y", String(y));
  rect.setAttribute("width", String(width));
  rect.setAttribute("height", String(height));
  rect.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(rect);
  return svg;
}

function thumbnail(url, name, eager, box) {
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
    if (Array.isArray(box) && box.length === 4) figure.append(boxOverlay(img, box));
  });
  img.addEventListener("error", () => img.replaceWith(element("span", "card__noimage", "no preview")));
  figure.append(img);
  return figure;
}

function predictionBody(result, kind) {
  const body = document.createDocumentFragment();
  const line = element("p", "card__prediction");
  line.append(
    element("span", "visually-hidden", "Predicted digit "),
    element("span", "card__digit", String(result.prediction)),
    element("span", "visually-hidden", ", confidence "),
    element("span", "card__confidence", percent(result.confidence)),
  );
  const bar = element("div", "card__bar");
  bar.setAttribute("aria-hidden", "true");
  bar.style.setProperty("--confidence", String(result.confidence));
  body.append(line, bar);
  if (result.runner_up !== null && result.runner_up !== undefined) {
    body.append(element("p", "card__runner", `runner-up ${result.runner_up}`));
  }
  if (kind === "low") body.append(element("p", "badge badge--low", "Low confidence"));
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
  if (kind !== "error") item.dataset.prediction = String(result.prediction);
  const body = element("div", "card__body");
  body.append(kind === "error" ? errorBody(result) : predictionBody(result, kind));
  const name = element("p", "card__name", result.filename);
  name.title = result.filename;
  body.append(name);
  item.append(thumbnail(url, result.filename, eager, result.box), body);
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
