// The household view of an energy-sharing community (market_mode "sharing"): no orders and no
// trades; after each slot the community's production is allocated to the members' consumption by
// a key. Per period, per day and per slot: consumption (G.01) = community coverage (G.03) +
// residual grid draw, production = export to the community + export to the grid (P.01), and the
// bill against business as usual. From GET /sharing/slots and GET /bills; page helpers come from
// app.js as `ui`. Sums are exact (BigInt); numbers only for drawing.
import { api } from "./api.js";
import { stackChart } from "./charts.js";
import { eur, h, kwh, num, table } from "./format.js";

const FIGURES = ["consumption_wh", "covered_wh", "grid_draw_wh", "production_wh", "to_community_wh", "to_grid_wh", "net_cost", "bau_cost"];
/** Short column names (a table must fit a laptop's width); the figures above them say it in full. */
const ENERGY_HEADERS = ["Consumption", "Coverage", "Grid draw", "To community", "To grid"];
const energyCells = (x) => [kwh(x.consumption_wh), kwh(x.covered_wh), kwh(x.grid_draw_wh), kwh(x.to_community_wh), kwh(x.to_grid_wh)];

/** The slots summed per day: [[day, sums], ...] in day order. */
function byDay(slots, dayOf) {
  const days = new Map();
  for (const x of slots) {
    const d = dayOf(x.slot);
    const acc = days.get(d) || Object.fromEntries(FIGURES.map((k) => [k, 0n]));
    for (const k of FIGURES) acc[k] += BigInt(x[k]);
    days.set(d, acc);
  }
  return [...days].sort((a, b) => a[0] - b[0]);
}

/** Coverage as a share of consumption, two decimals (display only). */
function share(part, whole) {
  const w = BigInt(whole);
  if (w === 0n) return "–";
  const bps = (BigInt(part) * 10000n) / w;
  return `${bps / 100n}.${String(bps % 100n).padStart(2, "0")} %`;
}

const kw = (v) => `${(v / 1000).toLocaleString("en", { maximumFractionDigits: 3 })} kWh`;

function coverageChart(title, description, labels, rows, caption) {
  const series = [
    { name: "Community coverage (G.03)", cls: "s-local", values: rows.map((r) => num(r.covered_wh)) },
    { name: "Residual grid draw", cls: "s-grid", values: rows.map((r) => num(r.grid_draw_wh)) },
  ];
  return stackChart({
    title,
    description,
    categories: labels,
    series,
    yLabel: "kWh",
    fmt: kw,
    table: table(caption, ["When", ...ENERGY_HEADERS, "Cost", "BaU"], labels.map((l, i) => [l, ...energyCells(rows[i]), eur(rows[i].net_cost), eur(rows[i].bau_cost)]), { numeric: [1, 2, 3, 4, 5, 6, 7] }),
  });
}

function exportChart(title, labels, rows) {
  const series = [
    { name: "Export to the community", cls: "s-local", values: rows.map((r) => num(r.to_community_wh)) },
    { name: "Export to the grid (P.01)", cls: "s-pv", values: rows.map((r) => num(r.to_grid_wh)) },
  ];
  return stackChart({
    title,
    description: "Your metered production: what the community took (credited to you at the sharing price) and the rest, fed into the grid at the feed-in price. Each bar's height is your production.",
    categories: labels,
    series,
    yLabel: "kWh",
    fmt: kw,
    table: table(title, ["When", "To community", "To grid"], labels.map((l, i) => [l, kwh(rows[i].to_community_wh), kwh(rows[i].to_grid_wh)]), { numeric: [1, 2] }),
  });
}

/** One day's slots: the coverage and export charts over the slots' start times. */
function dayDetail(day, slots, ui) {
  const mine = slots.filter((x) => ui.dayOf(x.slot) === day);
  const labels = mine.map((x) => ui.slotTime(x.slot).slice(11, 16));
  const out = h("div", { "data-testid": "sharing-day-detail", "data-day": String(day) });
  out.append(
    coverageChart(
      `Your consumption per slot, ${ui.dayLabel(day)}`,
      `Per slot (UTC start time): the part of your consumption the community covered (G.03) and the residual drawn from the grid; each bar's height is your metered consumption (G.01). ${mine.length} settled slot(s).`,
      labels,
      mine,
      `Per slot, ${ui.dayLabel(day)}`,
    ),
  );
  if (mine.some((x) => BigInt(x.production_wh) > 0n)) out.append(exportChart(`Your production per slot, ${ui.dayLabel(day)}`, labels, mine));
  out.querySelector("table").setAttribute("data-testid", "sharing-slots");
  return out;
}

/** The period's sharing figures into `box` (the member view's history card). */
export async function renderSharing(box, period, info, ui) {
  box.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  box.dataset.period = String(period);
  let bill, shared;
  try {
    [bill, shared] = await Promise.all([api("/bills", { params: { period } }), api("/sharing/slots", { params: { period } })]);
  } catch (exc) {
    if (box.dataset.period === String(period)) box.replaceChildren(ui.errorBox(exc));
    return;
  }
  if (box.dataset.period !== String(period)) return; // another period was picked meanwhile
  const t = shared.totals;
  const savings = h(
    "p",
    { class: bill.savings >= 0 ? "savings good" : "savings bad", "data-testid": "savings" },
    bill.savings >= 0 ? `You saved ${eur(bill.savings)} against business as usual.` : `You paid ${eur(-bill.savings)} more than business as usual.`,
  );
  const facts = ui.dl([
    ["Consumption (G.01)", kwh(t.consumption_wh), "sharing-consumption"],
    ["Community coverage (G.03)", kwh(t.covered_wh), "sharing-covered"],
    ["Residual grid draw (G.01 − G.03)", kwh(t.grid_draw_wh), "sharing-grid-draw"],
    ["Covered by the community", share(t.covered_wh, t.consumption_wh), "sharing-self-sufficiency"],
    ["Export to the community", kwh(t.to_community_wh), "sharing-to-community"],
    ["Export to the grid (P.01)", kwh(t.to_grid_wh), "sharing-to-grid"],
    ["Your bill", eur(bill.net_cost), "net-cost"],
    ["Business as usual", eur(bill.bau_cost), "bau-cost"],
  ]);
  const explain = h(
    "p",
    { class: "hint" },
    `This community shares its production by the ${ui.market().sharing_key} key: after each slot the members' production is allocated to the members' consumption, with no orders to place. What the community covered is billed at the sharing price with the reduced network charge; the rest of your consumption comes from the grid at the retail price. Business as usual: the same metered energy without the community.`,
  );
  const days = byDay(shared.slots, ui.dayOf);
  const dayLabels = days.map(([d]) => ui.dayLabel(d));
  const dayRows = days.map(([, x]) => x);
  const perDay = days.length
    ? coverageChart(
        "Your consumption per day",
        `Per day of the period: the part of your consumption the community covered (G.03) and the residual drawn from the grid; each bar's height is your metered consumption (G.01). ${days.length} day(s).`,
        dayLabels,
        dayRows,
        "Per day",
      )
    : h("p", { class: "empty" }, "No settled slots in this period yet.");
  const dayTable = table("Energy and bill per day (coverage: G.03; grid draw: G.01 − G.03; to grid: P.01; BaU: business as usual)", ["Day", ...ENERGY_HEADERS, "Cost", "BaU"], days.map(([, x], i) => [dayLabels[i], ...energyCells(x), eur(x.net_cost), eur(x.bau_cost)]), { numeric: [1, 2, 3, 4, 5, 6, 7] });
  dayTable.querySelector("table").setAttribute("data-testid", "sharing-days");
  const detailBox = h("div", {});
  const out = [ui.note(info), savings, explain, facts, perDay, dayTable];
  if (days.length) {
    const pick = h("select", { id: "sharing-day", "data-testid": "sharing-day" }, days.map(([d], i) => h("option", { value: d }, dayLabels[i])));
    pick.value = String(days[days.length - 1][0]);
    const show = () => detailBox.replaceChildren(dayDetail(Number(pick.value), shared.slots, ui));
    pick.addEventListener("change", show);
    show();
    out.push(ui.field("Slots of the day", pick, "Each slot's consumption and its coverage, and your production and where it went."), detailBox);
  }
  const statement = ui.statementTable(`Statement for period ${period} (slots ${bill.from_slot}–${bill.to_slot}); costs are positive, credits negative`, bill.lines);
  statement.querySelector("table").setAttribute("data-testid", "statement");
  out.push(statement);
  box.replaceChildren(...out);
}
