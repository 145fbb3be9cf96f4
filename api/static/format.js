// Display of the API's integer units: n€ (1e-9 €), Wh, and prices in n€/Wh (= µ€/kWh).

function big(v) {
  return typeof v === "bigint" ? v : BigInt(v);
}

function fixed(value, scale, decimals) {
  // value / 10^scale rounded half away from zero to `decimals` places, exactly.
  const v = big(value);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const div = 10n ** BigInt(scale - decimals);
  const q = (abs + div / 2n) / div;
  const s = q.toString().padStart(decimals + 1, "0");
  const whole = s.slice(0, s.length - decimals).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = decimals ? "." + s.slice(s.length - decimals) : "";
  return (neg && q !== 0n ? "−" : "") + whole + frac;
}

/** n€ as euros: "€12.3456". */
export const eur = (n) => `€${fixed(n, 9, 4)}`;
/** Wh as kWh: "1.500 kWh". */
export const kwh = (wh) => `${fixed(wh, 3, 3)} kWh`;
/** n€/Wh as €/kWh: "0.1600 €/kWh". */
export const perKwh = (p) => (p === null || p === undefined ? "–" : `${fixed(p, 6, 4)} €/kWh`);
/** For charts only (display, never money arithmetic). */
export const num = (v) => Number(v);

/** "0.16" (€/kWh) → 160000 (n€/Wh), exactly; null if not a plain decimal with ≤ 6 places. */
export function parsePerKwh(text) {
  const m = /^\s*(\d+)(?:\.(\d{0,6}))?\s*$/.exec(text);
  if (!m) return null;
  return BigInt(m[1]) * 1_000_000n + BigInt((m[2] || "").padEnd(6, "0") || "0");
}

/** A form's price field in n€/Wh (parsePerKwh), or an error for the form naming the `what`. */
export function priceField(input, what, example) {
  const price = parsePerKwh(input.value);
  if (price === null) throw new Error(`The ${what} must be a number of euros per kWh with at most 6 decimals, e.g. ${example}`);
  return price;
}

/** A form's energy field: whole Wh above 0, or an error for the form naming the `what`. */
export function whField(input, what) {
  const energyWh = BigInt(input.value || "0");
  if (energyWh <= 0n) throw new Error(`The ${what} must be a whole number of Wh above 0`);
  return energyWh;
}

export const shortAddr = (a) => (a ? `${a.slice(0, 6)}…${a.slice(-4)}` : "");

/** Chain time (unix seconds) as "2026-01-01 00:30 UTC". */
export function utc(seconds) {
  return new Date(Number(seconds) * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** Element builder: h("p", {class: "x"}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A table with a caption; `rows` are arrays of cells (strings or nodes). Each cell carries its
 * column's header as `data-label`: on a phone the rows stack and every value shows its name. */
export function table(caption, headers, rows, { numeric = [] } = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((t, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, t)))),
      h(
        "tbody",
        {},
        rows.length
          ? rows.map((r) => h("tr", {}, r.map((c, i) => h(i === 0 ? "th" : "td", { scope: i === 0 ? "row" : null, class: numeric.includes(i) ? "num" : null, "data-label": headers[i] || null }, c))))
          : h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, "nothing yet")),
      ),
    ),
  );
}
