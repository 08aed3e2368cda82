// A canvas to draw a digit on with a mouse, pen or finger (pointer events):
// white strokes on black, like MNIST. `onStrokeEnd` fires when a stroke is lifted.

const INK = "#ffffff";
const PAPER = "#000000";

export class DrawingPad {
  constructor(canvas, { onStrokeEnd } = {}) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.onStrokeEnd = onStrokeEnd;
    this.pointerId = null;
    this.last = null;
    this.empty = true;
    this.clear();
    canvas.addEventListener("pointerdown", (event) => this.start(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.end(event));
    canvas.addEventListener("pointercancel", (event) => this.end(event));
  }

  clear() {
    const { context, canvas } = this;
    context.fillStyle = PAPER;
    context.fillRect(0, 0, canvas.width, canvas.height);
    this.empty = true;
  }

  // Canvas pixels under the pointer, whatever size CSS shows the canvas at.
  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * this.canvas.width) / box.width,
      y: ((event.clientY - box.top) * this.canvas.height) / box.height,
    };
  }

  lineWidth() {
    return Math.round(this.canvas.width / 13);
  }

  start(event) {
    if (this.pointerId !== null) return;
    event.preventDefault();
    this.pointerId = event.pointerId;
    this.canvas.setPointerCapture(event.pointerId);
    this.last = this.point(event);
    this.dot(this.last);
  }

  move(event) {
    if (event.pointerId !== this.pointerId) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) {
      const next = this.point(each);
      this.line(this.last, next);
      this.last = next;
    }
  }

  end(event) {
    if (event.pointerId !== this.pointerId) return;
    this.pointerId = null;
    this.last = null;
    this.onStrokeEnd?.();
  }

  dot({ x, y }) {
    const { context } = this;
    context.fillStyle = INK;
    context.beginPath();
    context.arc(x, y, this.lineWidth() / 2, 0, Math.PI * 2);
    context.fill();
    this.empty = false;
  }

  line(from, to) {
    const { context } = this;
    context.strokeStyle = INK;
    context.lineWidth = this.lineWidth();
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(from.x, from.y);
    context.lineTo(to.x, to.y);
    context.stroke();
    this.empty = false;
  }

  // The drawing as a PNG file, ready to upload.
  toFile(name = "drawing.png") {
    return new Promise((resolve) =>
      this.canvas.toBlob((blob) => resolve(new File([blob], name, { type: "image/png" })), "image/png"),
    );
  }
}
