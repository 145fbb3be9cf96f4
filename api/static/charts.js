// SVG charts drawn here (no library): grouped bars, bars with a line, and step curves. Each comes
// with a title, a text description and its data as a table for screen readers.
import { h } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
let W = 640; // narrower on a phone, so that text stays readable when the chart is scaled down
const H = 300;
const M = { top: 16, right: 56, bottom: 48, left: 64 };
let uid = 0;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function size() {
  W = window.innerWidth < 600 ? 420 : 640;
}

/** About five round tick values from 0 (or min) to max. */
export function ticks(min, max, count = 5) {
  if (!(max > min)) max = min + 1;
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || raw;
  const out = [];
  for (let v = Math.floor(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < max) out.push(Number((out[out.length - 1] + step).toPrecision(12)));
  return out;
}

function frame(title, description, dataTable, svgChildren, legend) {
  const id = `chart-${++uid}`;
  const svg = s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${id}-t ${id}-d`, class: "chart", preserveAspectRatio: "xMidYMid meet" },
    s("title", { id: `${id}-t` }, title),
    s("desc", { id: `${id}-d` }, description),
    svgChildren,
  );
  return h(
    "figure",
    { class: "figure" },
    h("figcaption", {}, title),
    legend ? h("ul", { class: "legend" }, legend.map(([name, cls]) => h("li", {}, h("span", { class: `swatch ${cls}`, "aria-hidden": "true" }), name))) : null,
    svg,
    h("details", {}, h("summary", {}, "Data as a table"), dataTable),
  );
}

function yAxis(scale, tickValues, fmt, x, label, anchor = "end") {
  const dx = anchor === "end" ? -6 : 6;
  return s(
    "g",
    { class: "axis" },
    tickValues.map((v) =>
      s("g", {}, anchor === "end" ? s("line", { x1: M.left, x2: W - M.right, y1: scale(v), y2: scale(v), class: "grid" }) : null, s("text", { x: x + dx, y: scale(v) + 4, "text-anchor": anchor }, fmt(v))),
    ),
    // The left axis is labelled along its side; a right axis is named in the legend.
    anchor === "end" ? s("text", { x: 12, y: M.top + (H - M.top - M.bottom) / 2, transform: `rotate(-90 12 ${M.top + (H - M.top - M.bottom) / 2})`, "text-anchor": "middle", class: "axis-label" }, label) : null,
  );
}

/** Grouped bars: categories along x, one bar per series. */
export function barChart({ title, description, categories, series, yLabel, fmt = String, table }) {
  size();
  const max = Math.max(0, ...series.flatMap((sr) => sr.values));
  const tv = ticks(0, max || 1);
  const top = tv[tv.length - 1];
  const y = (v) => H - M.bottom - (v / top) * (H - M.top - M.bottom);
  const band = (W - M.left - M.right) / Math.max(categories.length, 1);
  const bw = Math.max(2, (band * 0.8) / series.length);
  const step = Math.ceil(categories.length / 12);
  const bars = categories.map((c, i) =>
    s(
      "g",
      {},
      series.map((sr, j) => {
        const v = sr.values[i] || 0;
        return s("rect", { x: M.left + i * band + band * 0.1 + j * bw, y: y(v), width: bw, height: Math.max(0, y(0) - y(v)), class: sr.cls }, s("title", {}, `${c}: ${sr.name} ${fmt(v)}`));
      }),
      i % step === 0 ? s("text", { x: M.left + i * band + band / 2, y: H - M.bottom + 16, "text-anchor": "middle", class: "tick" }, c) : null,
    ),
  );
  return frame(title, description, table, [yAxis(y, tv, fmt, M.left, yLabel), s("line", { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0), class: "baseline" }), bars], series.map((sr) => [sr.name, sr.cls]));
}

/** Bars (left axis) and a line with dots (right axis) over numeric x values (slots). */
export function barLineChart({ title, description, xs, bars, line, xLabel, table }) {
  size();
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const span = Math.max(1, x1 - x0);
  const band = Math.min(24, (W - M.left - M.right) / (span + 1));
  const x = (v) => M.left + band / 2 + ((v - x0) / span) * (W - M.left - M.right - band);
  const bMax = Math.max(0, ...bars.values);
  const bt = ticks(0, bMax || 1);
  const yb = (v) => H - M.bottom - (v / bt[bt.length - 1]) * (H - M.top - M.bottom);
  const lv = line.values.filter((v) => v !== null);
  const lt = ticks(Math.min(0, ...lv), Math.max(1e-9, ...lv));
  const yl = (v) => H - M.bottom - ((v - lt[0]) / (lt[lt.length - 1] - lt[0])) * (H - M.top - M.bottom);
  const pts = xs.map((xv, i) => [xv, line.values[i]]).filter(([, v]) => v !== null);
  const xt = ticks(x0, x1 === x0 ? x0 + 1 : x1, 6).filter((v) => v >= x0 && v <= x1 && Number.isInteger(v));
  return frame(
    title,
    description,
    table,
    [
      yAxis(yb, bt, bars.fmt, M.left, bars.name),
      yAxis(yl, lt, line.fmt, W - M.right, line.name, "start"),
      s("line", { x1: M.left, x2: W - M.right, y1: yb(0), y2: yb(0), class: "baseline" }),
      xs.map((xv, i) => s("rect", { x: x(xv) - band * 0.4, y: yb(bars.values[i]), width: band * 0.8, height: Math.max(0, yb(0) - yb(bars.values[i])), class: bars.cls }, s("title", {}, `${xLabel} ${xv}: ${bars.fmt(bars.values[i])}`))),
      pts.length > 1 ? s("polyline", { points: pts.map(([a, b]) => `${x(a)},${yl(b)}`).join(" "), class: `line ${line.cls}` }) : null,
      pts.map(([a, b]) => s("circle", { cx: x(a), cy: yl(b), r: 4, class: `dot ${line.cls}` }, s("title", {}, `${xLabel} ${a}: ${line.fmt(b)}`))),
      xt.map((v) => s("text", { x: x(v), y: H - M.bottom + 16, "text-anchor": "middle", class: "tick" }, String(v))),
      s("text", { x: M.left + (W - M.left - M.right) / 2, y: H - 8, "text-anchor": "middle", class: "axis-label" }, xLabel),
    ],
    [
      [bars.name, bars.cls],
      [line.name, line.cls],
    ],
  );
}

/** Supply and demand step curves (x: cumulative energy, y: price) with the clearing point. */
export function curveChart({ title, description, supply, demand, clearing, fmtX, fmtY, xLabel, yLabel, table }) {
  size();
  const xMax = Math.max(1, ...supply.map((p) => p[0]), ...demand.map((p) => p[0]), clearing ? clearing.volume : 0);
  const prices = [...supply, ...demand].map((p) => p[1]).concat(clearing && clearing.price !== null ? [clearing.price] : []);
  const yt = ticks(0, Math.max(1e-9, ...prices) * 1.1);
  const xt = ticks(0, xMax * 1.05);
  const x = (v) => M.left + (v / xt[xt.length - 1]) * (W - M.left - M.right);
  const y = (v) => H - M.bottom - (v / yt[yt.length - 1]) * (H - M.top - M.bottom);
  const path = (steps, end) => {
    // steps: [[cumulative energy after the order, its price], ...] in merit order; the curve
    // ends vertically: supply rises (nothing more on offer), demand falls to zero.
    let d = `M${x(0)},${y(steps[0][1])}`;
    for (const [cum, price] of steps) d += ` V${y(price)} H${x(cum)}`;
    return `${d} V${end}`;
  };
  const marks = [];
  if (clearing) {
    if (clearing.price !== null) {
      marks.push(
        s("line", { x1: x(0), x2: x(clearing.volume), y1: y(clearing.price), y2: y(clearing.price), class: "guide" }),
        s("line", { x1: x(clearing.volume), x2: x(clearing.volume), y1: y(0), y2: y(clearing.price), class: "guide" }),
        s("circle", { cx: x(clearing.volume), cy: y(clearing.price), r: 7, class: "clearing", "data-testid": "clearing-point" }, s("title", {}, `clearing: ${fmtX(clearing.volume)} at ${fmtY(clearing.price)}`)),
      );
    } else {
      marks.push(s("line", { x1: x(clearing.volume), x2: x(clearing.volume), y1: y(0), y2: M.top, class: "guide clearing-volume", "data-testid": "clearing-point" }, s("title", {}, `cleared volume ${fmtX(clearing.volume)} (no single price)`)));
    }
  }
  return frame(
    title,
    description,
    table,
    [
      yAxis(y, yt, fmtY, M.left, yLabel),
      xt.map((v) => s("text", { x: x(v), y: H - M.bottom + 16, "text-anchor": "middle", class: "tick" }, fmtX(v))),
      s("text", { x: M.left + (W - M.left - M.right) / 2, y: H - 8, "text-anchor": "middle", class: "axis-label" }, xLabel),
      s("line", { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0), class: "baseline" }),
      supply.length ? s("path", { d: path(supply, M.top), class: "curve supply", "data-testid": "supply-curve" }) : null,
      demand.length ? s("path", { d: path(demand, y(0)), class: "curve demand", "data-testid": "demand-curve" }) : null,
      marks,
    ],
    [
      ["Supply (sell offers, cheapest first)", "supply"],
      ["Demand (buy bids, highest first)", "demand"],
      ["Clearing point", "clearing"],
    ],
  );
}

/** Stacked bars: categories along x, the series stacked bottom up, so a bar's height is their
 * sum (e.g. community coverage + residual grid draw = consumption). */
export function stackChart({ title, description, categories, series, yLabel, fmt = String, table }) {
  size();
  const totals = categories.map((_, i) => series.reduce((sum, sr) => sum + (sr.values[i] || 0), 0));
  const tv = ticks(0, Math.max(0, ...totals) || 1);
  const top = tv[tv.length - 1];
  const y = (v) => H - M.bottom - (v / top) * (H - M.top - M.bottom);
  const band = (W - M.left - M.right) / Math.max(categories.length, 1);
  const step = Math.ceil(categories.length / 8);
  const bars = categories.map((c, i) => {
    let base = 0;
    return s(
      "g",
      {},
      series.map((sr) => {
        const v = sr.values[i] || 0;
        const bar = s("rect", { x: M.left + i * band + band * 0.1, y: y(base + v), width: Math.max(1, band * 0.8), height: Math.max(0, y(base) - y(base + v)), class: sr.cls }, s("title", {}, `${c}: ${sr.name} ${fmt(v)}`));
        base += v;
        return bar;
      }),
      i % step === 0 ? s("text", { x: M.left + i * band + band / 2, y: H - M.bottom + 16, "text-anchor": "middle", class: "tick" }, c) : null,
    );
  });
  return frame(title, description, table, [yAxis(y, tv, fmt, M.left, yLabel), s("line", { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0), class: "baseline" }), bars], series.map((sr) => [sr.name, sr.cls]));
}
