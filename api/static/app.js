// The gridshare dashboard: one page, three views (member, DSO, market & audit) and a slot view,
// routed by the URL's hash. Everything comes from the API's own endpoints.
import { api, hasToken, setToken } from "./api.js";
import { barChart, barLineChart, curveChart } from "./charts.js";
import { eur, h, kwh, num, perKwh, priceField, shortAddr, table, utc, whField } from "./format.js";
import { dsoFlexibility, memberFlexibility } from "./flex.js";
import { renderSharing } from "./sharing.js";
import { account, devAccounts, siweMessage, signText, signTypedData, useDevAccount } from "./wallet.js";

const main = document.getElementById("main");
const sessionBox = document.getElementById("session");
const statusBox = document.getElementById("status");
const state = { market: null, me: null };
const ROLE_NAMES = { 0: "none", 1: "consumer", 2: "prosumer", 3: "prosumager", 4: "battery" };
const SIDES = { 0: "buy", 1: "sell" };
const SLOTS_SHOWN = 96;

// -- helpers ------------------------------------------------------------------------------

let sayTimer = 0;

function say(text) {
  statusBox.textContent = "";
  clearTimeout(sayTimer);
  setTimeout(() => (statusBox.textContent = text), 10);
  sayTimer = setTimeout(() => (statusBox.textContent = ""), 8000);
}

function errorBox(exc) {
  const code = exc.code ? `${exc.code}: ` : "";
  return h("p", { class: "error", role: "alert" }, `${code}${exc.message}`);
}

function section(title, ...children) {
  const id = "h-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v, testid]) => h("div", {}, h("dt", {}, k), h("dd", { "data-testid": testid }, v))));
}

function field(label, input, hint) {
  const id = input.id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("p", { class: "hint", id: hintId }, hint) : null);
}

/** Run an action from a button: disable it, show errors next to it, announce success. */
async function act(button, where, work) {
  button.disabled = true;
  where.replaceChildren();
  try {
    const done = await work();
    if (done) say(done);
  } catch (exc) {
    where.replaceChildren(errorBox(exc));
  } finally {
    button.disabled = false;
  }
}

/** `act(button, where, work)` on every submit of `form`, in place of the browser's page load. */
function onSubmit(form, button, where, work) {
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(button, where, work);
  });
}

const slotsPerDay = () => Math.max(1, Math.floor(86400 / state.market.slot_seconds));
const slotTime = (slot) => utc(state.market.genesis + slot * state.market.slot_seconds);
const dayOf = (slot) => Math.floor(slot / slotsPerDay());
const dayLabel = (day) => utc(state.market.genesis + day * 86400).slice(0, 10);
const eventsLink = (contract, event, slot) =>
  h("a", { href: `/events?contract=${contract}&event=${event}&where=slot%3D${slot}` }, `${contract}.${event}`);
const slotLink = (slot) => h("a", { href: `#/slot/${slot}` }, `slot ${slot}`);
/** A community deployed in the `sharing` mode: no order book, its production allocated by a key. */
const sharing = () => state.market.market_mode === "sharing";
const periodNote = (info) => h("p", { class: "hint", "data-testid": "period-note" }, PERIOD_NOTES[info.status]);
/** What the flexibility and sharing modules (flex.js, sharing.js) use of this page. */
const ui = { dayLabel, dayOf, dl, errorBox, field, note: periodNote, onSubmit, slotLink, slotTime, statementTable, me: () => state.me, market: () => state.market };

// -- session ------------------------------------------------------------------------------

async function loadMe() {
  state.me = null;
  if (!hasToken()) return;
  try {
    state.me = await api("/auth/me");
  } catch {
    setToken(null);
  }
}

function renderSession() {
  if (state.me) {
    const roles = state.me.roles.length ? state.me.roles.join(", ") : "no role";
    sessionBox.replaceChildren(
      h("span", { "data-testid": "signed-in", title: state.me.address }, `Signed in: ${shortAddr(state.me.address)} (${roles})`),
      h("button", { type: "button", class: "secondary", onclick: signOut }, "Sign out"),
    );
  } else {
    sessionBox.replaceChildren(signInButton());
  }
}

function signInButton() {
  const where = h("span", {});
  const button = h("button", { type: "button", class: "sign-in" }, "Sign in with Ethereum");
  button.addEventListener("click", () => signIn(button, where));
  const box = h("span", { class: "sign-in-box" }, button, where);
  devAccounts().then((accounts) => {
    if (accounts && accounts.length) box.prepend(devSignIn(accounts, where));
  });
  return box;
}

/** On a local dev chain (`make dashboard`): sign in as one of the demo's accounts, the API's dev
 * helper signing for it. */
function devSignIn(accounts, where) {
  const select = h(
    "select",
    { "aria-label": "Demo account", "data-testid": "dev-account" },
    ...accounts.map((a) => h("option", { value: a.address }, `${a.name} (${a.role})`)),
  );
  const button = h("button", { type: "button", class: "sign-in" }, "Sign in on this dev chain");
  button.addEventListener("click", () => {
    useDevAccount(select.value);
    signIn(button, where);
  });
  return h("span", { class: "dev-sign-in" }, select, button);
}

function signIn(button, where) {
  return act(button, where, async () => {
    const address = await account();
    const n = await api("/auth/nonce", { auth: false });
    const message = siweMessage({ domain: n.domain, address, uri: location.origin, chainId: n.chain_id, nonce: n.nonce, issuedAt: new Date().toISOString() });
    const signature = await signText(address, message);
    const session = await api("/auth/login", { method: "POST", body: { message, signature }, auth: false });
    setToken(session.token);
    await loadMe();
    renderSession();
    await route();
    return `Signed in as ${session.address}`;
  });
}

async function signOut() {
  setToken(null);
  useDevAccount(null);
  state.me = null;
  renderSession();
  await route();
  say("Signed out");
}

const hasRole = (role) => Boolean(state.me && state.me.roles.includes(role));

// -- member -------------------------------------------------------------------------------

const PERIOD_STATUS = {
  open: "in progress",
  ended: "ended, meters not all settled",
  settled: "settled, not yet closed",
  closed: "complete",
};
const PERIOD_NOTES = {
  open: "This period is still in progress: its figures grow until it ends, and its profit share and service fee come when it closes.",
  ended: "This period has ended, but not every slot of it is settled against the meters yet: the figures may still change.",
  settled: "Every slot of this period is settled against the meters; its profit share and service fee come when it closes.",
  closed: "This period is closed: its statement is complete.",
};

/** A billing period's days (UTC), e.g. "2026-06-15" or "2026-06-01 to 2026-06-30". */
function periodDates(p) {
  const first = utc(p.starts_at).slice(0, 10);
  const last = utc(p.ends_at - 1).slice(0, 10);
  return first === last ? first : `${first} to ${last}`;
}

/** A period picker for a statement: every period up to the current one (GET /periods, newest
 * first), opening on `start`; `show(period, info)` draws that period's statement, and the URL
 * becomes #/`route`/period (a reload or a shared link opens it). Periods older than the list
 * holds (the newest 1,000) can be typed in. */
async function periodPicker(periods, start, route, show, id) {
  const pick = (n, info) => {
    history.replaceState(null, "", `#/${route}/${n}`);
    show(n, info);
  };
  const byNumber = new Map(periods.periods.map((p) => [p.period, p]));
  const label = (p) => `Period ${p.period}: ${periodDates(p)} (${PERIOD_STATUS[p.status]})`;
  const select = h("select", { id, class: "period", "data-testid": `${id}-select` }, periods.periods.map((p) => h("option", { value: p.period }, label(p))));
  /** Period `n`'s entry, asked for when it is older than the list. */
  const ensure = async (n) => {
    if (!byNumber.has(n)) {
      const [p] = (await api("/periods", { params: { before: n + 1, limit: 1 }, auth: false })).periods;
      byNumber.set(n, p);
      select.append(h("option", { value: n }, label(p)));
    }
    return byNumber.get(n);
  };
  await ensure(start);
  select.value = String(start);
  select.addEventListener("change", () => pick(Number(select.value), byNumber.get(Number(select.value))));
  const out = [field("Billing period", select, `${periods.current_period + 1} period(s) of ${periods.period_slots} slots, newest first (UTC days).`)];
  if (periods.periods.length < periods.current_period + 1) {
    const older = h("input", { id: `${id}-number`, type: "number", min: 0, max: periods.current_period, inputmode: "numeric" });
    const go = h("button", { type: "submit", class: "secondary" }, "Show period");
    const where = h("div", {});
    const form = h("form", { class: "form inline" }, field("Or any period by number", older), go, where);
    onSubmit(form, go, where, async () => {
      const n = Number(older.value);
      if (!Number.isInteger(n) || n < 0 || n > periods.current_period) throw new Error(`A period is a number from 0 to ${periods.current_period}`);
      const info = await ensure(n);
      select.value = String(n);
      pick(n, info);
    });
    out.push(form);
  }
  return { controls: out, info: (n) => byNumber.get(n) };
}

/** The period a statement opens on: the one in the URL if any, else the newest complete one
 * (the current period is still filling up), else the current one. */
function startPeriod(periods, arg) {
  const asked = arg === undefined ? NaN : Number(arg);
  if (Number.isInteger(asked) && asked >= 0 && asked <= periods.current_period) return asked;
  return periods.last_complete_period ?? periods.current_period;
}

async function memberView(arg) {
  const out = [h("h1", {}, "My account")];
  if (!state.me) {
    out.push(section("Sign in", h("p", {}, "Sign in with your Ethereum wallet to see your balance, orders, trades and bills."), signInButton()));
    return out;
  }
  if (!hasRole("member")) {
    out.push(section("Not a member", h("p", {}, `${state.me.address} is not a member of this community. The DSO registers members.`)));
    return out;
  }
  const periods = await api("/periods", { params: { limit: 1000 }, auth: false });
  const start = startPeriod(periods, arg);
  if (sharing()) return sharingMemberView(out, periods, start);
  const walletBox = h("div", {});
  const ordersBox = h("div", {});
  const historyBox = h("div", {});
  const refreshWallet = () => renderWallet(walletBox);
  const flex = memberFlexibility(ui);
  const picker = await periodPicker(periods, start, "member", (period, info) => renderHistory(historyBox, period, info), "period");
  out.push(
    section("Wallet", walletBox),
    section("Place an order", orderForm(() => Promise.all([renderWallet(walletBox), renderOrders(ordersBox, refreshWallet)]))),
    h("section", { class: "card wide", "aria-labelledby": "h-my-orders" }, h("h2", { id: "h-my-orders" }, "My orders"), ordersBox),
    h("section", { class: "card wide", "aria-labelledby": "h-history" }, h("h2", { id: "h-history" }, "Statement of account, trades and energy"), ...picker.controls, historyBox),
    flex.card,
    section("Top up", topUpForm()),
  );
  await Promise.all([renderWallet(walletBox), renderOrders(ordersBox, refreshWallet), renderHistory(historyBox, start, picker.info(start)), flex.refresh()]);
  return out;
}

/** The household view of a sharing community: wallet, coverage and bill per period, top-up. */
async function sharingMemberView(out, periods, start) {
  const walletBox = h("div", {});
  const historyBox = h("div", {});
  const picker = await periodPicker(periods, start, "member", (period, info) => renderSharing(historyBox, period, info, ui), "period");
  out.push(
    section("Wallet", walletBox),
    h("section", { class: "card wide", "aria-labelledby": "h-sharing" }, h("h2", { id: "h-sharing" }, "Energy sharing: your coverage and bill"), ...picker.controls, historyBox),
    section("Top up", topUpForm()),
  );
  await Promise.all([renderWallet(walletBox), renderSharing(historyBox, start, picker.info(start), ui)]);
  return out;
}

async function renderWallet(box) {
  const w = await api("/wallet");
  box.replaceChildren(
    dl([
      ["Balance (spendable)", eur(w.balance), "balance"],
      sharing() ? null : ["Escrow held for open buy orders", eur(w.escrow), "escrow"],
      ["Debt (owed to the community)", eur(w.debt), "debt"],
      ["Role", w.member_role || "–"],
    ]),
    sharing()
      ? h("p", { class: "hint" }, "After each slot the community's allocation is settled from your balance: what the community covered at the sharing price, the rest of your consumption at the retail price; your export is credited.")
      : h("p", { class: "hint" }, "An on-chain buy order holds its price at your limit (plus fees) in escrow until its slot settles; what it did not spend comes back to your balance. A signed intent holds nothing: the settlement pays it from your balance."),
    ...(w.debt > 0 ? [h("p", { class: "warn" }, "You owe the community; your next top-up pays the debt first.")] : []),
  );
}

function orderForm(after) {
  const m = state.market;
  const where = h("div", {});
  const side = h("select", { id: "order-side", name: "side" }, h("option", { value: "buy" }, "Buy"), h("option", { value: "sell" }, "Sell"));
  const slot = h("input", { id: "order-slot", name: "slot", type: "number", min: m.current_slot + 1, value: m.current_slot + 2, required: true, inputmode: "numeric" });
  const slotHint = h("span", {}, "");
  const showTime = () => (slotHint.textContent = slot.value ? `starts ${slotTime(Number(slot.value))} (chain time)` : "");
  slot.addEventListener("input", showTime);
  showTime();
  const energy = h("input", { id: "order-energy", name: "energy", type: "number", min: 1, step: 1, value: 1000, required: true, inputmode: "numeric" });
  const price = h("input", { id: "order-price", name: "price", type: "text", inputmode: "decimal", value: perKwh(m.tariff.community_price).split(" ")[0], required: true, pattern: "\\d+(\\.\\d{1,6})?" });
  const direct = h("input", { id: "order-direct", name: "direct", type: "checkbox" });
  const submit = h("button", { type: "submit" }, "Sign and place order");
  const form = h(
    "form",
    { class: "form", "aria-describedby": "order-help" },
    h("p", { id: "order-help", class: "hint" }, `Your wallet signs the order (an EIP-712 intent); it waits until the slot's gate closes, then the settlement carries it and pays from your balance, so you need no ether. To revoke every intent you signed, call revokeIntents() on the Settlement contract from your wallet. Slots are ${m.slot_seconds / 60} minutes; orders up to ${m.order_horizon_slots} slots ahead. Retail ${perKwh(m.tariff.retail_price)}, feed-in ${perKwh(m.tariff.feed_in_price)}.`),
    field("Side", side),
    field("Slot", slot, slotHint),
    field("Energy (Wh)", energy),
    field("Limit price (€/kWh)", price, "At most this when buying, at least this when selling."),
    field("Place on-chain directly", direct, "The fallback: relayed to the order book, which every settlement must include; a buy escrows its price at once."),
    submit,
    where,
  );
  onSubmit(form, submit, where, async () => {
    const limit = priceField(price, "price", "0.16");
    const energyWh = whField(energy, "energy");
    if (direct.checked) {
      const td = await api("/orders/direct/typed-data", { method: "POST", body: { from_slot: Number(slot.value), side: side.value, energy_wh: energyWh, limit_price: limit } });
      const signature = await signTypedData(state.me.address, td.typed_data);
      const msg = td.typed_data.message;
      const placed = await api("/orders/direct", {
        method: "POST",
        body: { owner: msg.owner, from_slot: msg.fromSlot, to_slot: msg.toSlot, side: side.value, energy_wh: msg.energyWh, limit_price: msg.limitPrice, nonce: msg.nonce, deadline: msg.deadline, signature },
      });
      await after();
      return `Order ${placed.order_ids.join(", ")} placed on-chain for slot ${slot.value}`;
    }
    const td = await api("/orders/typed-data", { method: "POST", body: { slot: Number(slot.value), side: side.value, energy_wh: energyWh, limit_price: limit } });
    const signature = await signTypedData(state.me.address, td.typed_data);
    const msg = td.typed_data.message;
    const placed = await api("/orders", {
      method: "POST",
      body: { owner: msg.owner, slot: msg.slot, side: side.value, energy_wh: msg.energyWh, limit_price: msg.limitPrice, epoch: msg.epoch, deadline: msg.deadline, signature },
    });
    await after();
    return `Order ${shortId(placed.id)} placed for slot ${slot.value}: pending until its gate closes`;
  });
  return form;
}

/** An intent's id (its 0x-hex struct hash) shortened for a table cell. */
const shortId = (id) => (typeof id === "string" && id.startsWith("0x") ? `${id.slice(0, 10)}…` : String(id));

async function renderOrders(box, after) {
  const orders = await api("/orders");
  const live = (o) => o.status === "open" || o.status === "pending";
  const open = orders.filter(live);
  const recent = orders.filter((o) => !live(o)).slice(-10).reverse();
  const where = h("div", {});
  const row = (o, action) => [o.kind === "intent" ? shortId(o.id) : String(o.id), slotLink(o.slot), o.side, kwh(o.energy_wh), perKwh(o.limit_price), eur(o.escrow), o.status_text, action];
  const withdraw = (o) => {
    const b = h("button", { type: "button", class: "secondary", "aria-label": `Withdraw order ${o.id}` }, "Withdraw");
    b.addEventListener("click", () =>
      act(b, where, async () => {
        await api(`/orders/${o.id}`, { method: "DELETE" });
        await Promise.all([renderOrders(box, after), after()]);
        return `Order ${shortId(o.id)} withdrawn`;
      }),
    );
    return b;
  };
  const cancel = (o) => {
    if (o.kind === "intent") return withdraw(o);
    const b = h("button", { type: "button", class: "secondary", "aria-label": `Cancel order ${o.id}` }, "Cancel");
    b.addEventListener("click", () =>
      act(b, where, async () => {
        const td = await api(`/orders/${o.id}/cancel-typed-data`, { method: "POST", body: {} });
        const signature = await signTypedData(state.me.address, td.typed_data);
        const msg = td.typed_data.message;
        await api(`/orders/${o.id}`, { method: "DELETE", body: { nonce: msg.nonce, deadline: msg.deadline, signature } });
        await Promise.all([renderOrders(box, after), after()]);
        return `Order ${o.id} cancelled; its escrow is back in your balance`;
      }),
    );
    return b;
  };
  const headers = ["Order", "Slot", "Side", "Energy", "Limit price", "Escrow held", "Status", "Action"];
  box.replaceChildren(
    where,
    table("Open orders", headers, open.map((o) => row(o, cancel(o))), { numeric: [3, 4, 5] }),
    table("Recent orders: settled, included, left out, cancelled or withdrawn", headers.slice(0, 7), recent.map((o) => row(o).slice(0, 7)), { numeric: [3, 4, 5] }),
  );
  box.querySelector("table").setAttribute("data-testid", "open-orders");
}

async function renderHistory(box, period, info) {
  box.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  box.dataset.period = String(period);
  const params = { period };
  let trades, bill, readings;
  try {
    [trades, bill, readings] = await Promise.all([api("/trades", { params }), api("/bills", { params }), api("/readings", { params })]);
  } catch (exc) {
    if (box.dataset.period === String(period)) box.replaceChildren(errorBox(exc));
    return;
  }
  if (box.dataset.period !== String(period)) return; // another period was picked meanwhile
  const t = bill;
  const note = periodNote(info);
  const billTable = statementTable(`Statement for period ${period} (slots ${bill.from_slot}–${bill.to_slot}); costs are positive, credits negative`, bill.lines, { net_cost: "net-cost", bau_cost: "bau-cost" });
  billTable.querySelector("table").setAttribute("data-testid", "statement");
  const savings = h(
    "p",
    { class: t.savings >= 0 ? "savings good" : "savings bad", "data-testid": "savings" },
    t.savings >= 0 ? `You saved ${eur(t.savings)} against business as usual.` : `You paid ${eur(-t.savings)} more than business as usual.`,
  );
  const none = "–";
  const tradeTable = table(
    "Trades (settled fills)",
    TRADE_COLUMNS.map(([name]) => name),
    trades.map((x) => [
      slotLink(x.slot),
      x.kind === "intent" ? shortId("0x" + BigInt(x.order_id).toString(16).padStart(64, "0")) : String(x.order_id),
      `${x.side} (${x.kind === "intent" ? "signed intent" : "on-chain order"})`,
      kwh(x.filled_wh),
      eur(x.amount),
      eur(x.platform_fee),
      x.side === "buy" ? eur(x.network_fee) : none,
      x.side === "buy" ? eur(x.paid) : none,
      x.side === "sell" ? eur(x.received) : none,
      x.side === "buy" && x.kind === "direct" ? eur(x.escrow_returned) : none,
    ]),
    { numeric: [3, 4, 5, 6, 7, 8, 9] },
  );
  tradeTable.querySelector("table").setAttribute("data-testid", "trades");
  const columns = h("details", {}, h("summary", {}, "What the trade columns mean"), h("dl", { class: "terms" }, TRADE_COLUMNS.filter(([, what]) => what).map(([name, what]) => [h("dt", {}, name), h("dd", {}, what)])));
  box.replaceChildren(note, savings, billTable, energyChart(bill, readings), tradeTable, columns, slotBills(bill));
}

/** The trades table's columns and what each figure is (the API's TradePublic fields). */
const TRADE_COLUMNS = [
  ["Slot", ""],
  ["Order", ""],
  ["Side", "A buy or a sell; an on-chain order (a buy escrows at its limit price when placed) or a signed intent (paid from your balance when its slot settles)."],
  ["Filled", "The energy the order got in its slot's clearing."],
  ["Energy value", "What the energy cost at the clearing price, fees excluded."],
  ["Platform fee", "The DSO's fee per kWh bought or sold in the local market."],
  ["Network charge", "The reduced grid fee per kWh bought locally (buys only)."],
  ["You paid", "A buy: energy value + platform fee + network charge."],
  ["You were credited", "A sell: energy value − platform fee, added to your balance."],
  ["Escrow returned", "An on-chain buy: the part of its escrow (held at your limit price) it did not need, back to your balance. A signed intent escrows nothing."],
];

/** A statement of account (market/statement.py) as a table: every figure with the API's label
 * and explanation; zero lines are left out except costs and totals. `testids`: key → test id. */
function statementTable(caption, lines, testids = {}) {
  const amountOf = (x) => (x.part === "energy" ? kwh(x.amount) : eur(x.amount));
  const shown = lines.filter((x) => x.part === "cost" || x.part === "total" || x.amount !== 0);
  const out = table(
    caption,
    ["Item", "What it is", "Amount"],
    shown.map((x) => {
      const testid = testids[x.key];
      const label = x.part === "total" ? h("strong", {}, x.label) : x.label;
      return [label, x.explanation, testid ? h("span", { "data-testid": testid }, amountOf(x)) : amountOf(x)];
    }),
    { numeric: [2] },
  );
  out.querySelector("table").classList.add("statement");
  return out;
}

function energyChart(bill, readings) {
  const bySlot = new Map();
  const at = (slot) => bySlot.get(slot) || bySlot.set(slot, { imp: 0, exp: 0, bought: 0, metered: false }).get(slot);
  for (const r of readings) {
    const e = at(r.slot);
    e.imp += num(r.import_wh);
    e.exp += num(r.export_wh);
    e.metered = true;
  }
  for (const b of bill.slots) {
    const e = at(b.slot);
    e.bought += num(b.bought_wh);
    if (!e.metered) {
      e.imp += num(b.bought_wh);
      e.exp += num(b.sold_wh);
    }
  }
  const days = new Map();
  for (const [slot, e] of [...bySlot].sort((a, b) => a[0] - b[0])) {
    const d = dayOf(slot);
    const acc = days.get(d) || { consumption: 0, pv: 0, local: 0, grid: 0 };
    acc.consumption += e.imp;
    acc.pv += e.exp;
    acc.local += e.bought;
    acc.grid += Math.max(0, e.imp - e.bought);
    days.set(d, acc);
  }
  const labels = [...days.keys()].map(dayLabel);
  const rows = [...days.values()];
  const kw = (v) => `${(v / 1000).toLocaleString("en", { maximumFractionDigits: 3 })} kWh`;
  const series = [
    { name: "Consumption (metered import)", cls: "s-consumption", values: rows.map((r) => r.consumption) },
    { name: "PV (metered export)", cls: "s-pv", values: rows.map((r) => r.pv) },
    { name: "Local purchases", cls: "s-local", values: rows.map((r) => r.local) },
    { name: "Grid imports", cls: "s-grid", values: rows.map((r) => r.grid) },
  ];
  if (!rows.length) return h("p", { class: "empty" }, "No readings or trades in this period yet, so no energy chart.");
  return barChart({
    title: "Energy per day",
    description: `Per day of the period: metered consumption, PV export, energy bought locally and energy imported from the grid. ${rows.length} day(s).`,
    categories: labels,
    series,
    yLabel: "kWh",
    fmt: kw,
    table: table("Energy per day", ["Day", ...series.map((x) => x.name)], labels.map((l, i) => [l, ...series.map((x) => kw(x.values[i]))]), { numeric: [1, 2, 3, 4] }),
  });
}

function slotBills(bill) {
  return h(
    "details",
    {},
    h("summary", {}, `Per-slot bill (${bill.slots.length} slots)`),
    table(
      "Bill per slot",
      ["Slot", "Metered", "Net cost", "Business as usual", "Savings"],
      bill.slots.map((b) => [slotLink(b.slot), b.metered ? "yes" : "no (trades as delivered)", eur(b.net_cost), eur(b.bau_cost), eur(b.savings)]),
      { numeric: [2, 3, 4] },
    ),
  );
}

/** n€ of a euro amount typed with at most 2 decimals (an Error naming the rule otherwise). */
function nanoEuros(text) {
  const m = /^\s*(\d+)(?:\.(\d{1,2}))?\s*$/.exec(text);
  if (!m) throw new Error("The amount must be euros with at most 2 decimals");
  return BigInt(m[1]) * 1_000_000_000n + BigInt((m[2] || "").padEnd(2, "0") || "0") * 10_000_000n;
}

function topUpForm() {
  const where = h("div", {});
  const list = h("div", {});
  const amount = h("input", { id: "topup-amount", type: "text", inputmode: "decimal", value: "50", required: true, pattern: "\\d+(\\.\\d{1,2})?" });
  const submit = h("button", { type: "submit" }, "Request top-up");
  const show = async () => {
    const mine = (await api("/wallet/top-ups")).reverse(); // the newest 100, listed oldest first
    list.replaceChildren(table("My top-up requests", ["Reference", "Amount", "Status"], mine.map((t) => [t.reference, eur(t.amount), t.status]), { numeric: [1] }));
  };
  const form = h("form", { class: "form" }, field("Amount (€)", amount, "Pay this to the DSO quoting the reference; the DSO then mints it to you."), submit, where, list);
  onSubmit(form, submit, where, async () => {
    const t = await api("/wallet/top-ups", { method: "POST", body: { amount: nanoEuros(amount.value) } });
    await show();
    return `Top-up requested: pay ${eur(t.amount)} quoting ${t.reference}`;
  });
  show().catch((exc) => list.replaceChildren(errorBox(exc)));
  return form;
}

// -- DSO ----------------------------------------------------------------------------------

/** The DSO sets a member's battery lease (PUT /dso/leases/{member}); every close charges it. */
function leaseForm() {
  const where = h("div", {});
  const member = h("input", { id: "lease-member", type: "text", required: true, pattern: "0x[0-9a-fA-F]{40}", placeholder: "0x…", autocomplete: "off" });
  const amount = h("input", { id: "lease-amount", type: "text", inputmode: "decimal", value: "0", required: true, pattern: "\\d+(\\.\\d{1,2})?" });
  const submit = h("button", { type: "submit" }, "Set lease");
  const form = h(
    "form",
    { class: "form" },
    field("Lessee (member's address)", member),
    field("Lease per period (€)", amount, "Charged with the service fee at every period's close (debt where the balance falls short); 0 ends the lease."),
    submit,
    where,
  );
  onSubmit(form, submit, where, async () => {
    const n = nanoEuros(amount.value);
    const who = member.value.trim();
    await api(`/dso/leases/${who}`, { method: "PUT", body: { per_period: n } });
    return `Battery lease of ${who} set to ${eur(n)} a period`;
  });
  return form;
}

async function renderDsoStatement(box, period, info) {
  box.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  box.dataset.period = String(period);
  let st;
  try {
    st = await api("/dso/statement", { params: { period } });
  } catch (exc) {
    if (box.dataset.period === String(period)) box.replaceChildren(errorBox(exc));
    return;
  }
  if (box.dataset.period !== String(period)) return; // another period was picked meanwhile
  const t = statementTable(`DSO statement for period ${period} (slots ${st.from_slot}–${st.to_slot}); income positive, payments negative`, st.lines, { dso_net_income: "dso-net-income" });
  t.querySelector("table").setAttribute("data-testid", "dso-statement");
  box.replaceChildren(h("p", { class: "hint", "data-testid": "dso-period-note" }, PERIOD_NOTES[info.status]), t);
}

async function allEvents(contract, event, where) {
  const out = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api("/events", { params: { contract, event, where, limit: 1000, offset }, auth: false });
    out.push(...page);
    if (page.length < 1000) return out;
  }
}

/** Every pending top-up request, oldest first (the API lists newest first, a page at a time). */
async function pendingTopUps() {
  const out = [];
  for (let before; ; ) {
    const page = await api("/dso/top-ups", { params: { status: "pending", limit: 1000, before } });
    out.push(...page);
    if (page.length < 1000) return out.reverse();
    before = page[page.length - 1].reference;
  }
}

async function dsoView(arg) {
  const out = [h("h1", {}, "DSO")];
  if (!hasRole("dso")) {
    out.push(section("DSO only", h("p", {}, "Sign in with an account that holds the DSO role on-chain."), state.me ? null : signInButton()));
    return out;
  }
  const m = state.market;
  const lo = Math.max(0, m.current_slot - 30 * slotsPerDay() + 1);
  const [periods, registered, changed, left, meters, retired, leaseSets, pending, tariffs, fees, income, slots] = await Promise.all([
    api("/periods", { params: { limit: 1000 }, auth: false }),
    allEvents("Community", "MemberRegistered"),
    allEvents("Community", "MemberRoleChanged"),
    allEvents("Community", "MemberLeft"),
    allEvents("Community", "MeterRegistered"),
    allEvents("Community", "MeterRetired"),
    allEvents("ProfitSharing", "LeaseSet"),
    pendingTopUps(),
    api("/dso/tariffs"),
    api("/dso/fees"),
    api("/dso/fee-income", { params: { from_slot: lo, to_slot: m.current_slot } }),
    api("/slots", { params: { from_slot: lo, to_slot: m.current_slot } }),
  ]);
  const members = new Map();
  for (const e of registered) members.set(e.member, { role: ROLE_NAMES[e.role] || String(e.role), joined: e.joined_slot, left: false });
  for (const e of changed) if (members.has(e.member)) members.get(e.member).role = ROLE_NAMES[e.role] || String(e.role);
  for (const e of left) if (members.has(e.member)) members.get(e.member).left = true;
  const gone = new Set(retired.map((e) => e.meter_id));
  const topUpWhere = h("div", {});
  const confirm = (t) => {
    const b = h("button", { type: "button", "aria-label": `Confirm top-up ${t.reference}` }, "Confirm payment");
    b.addEventListener("click", () =>
      act(b, topUpWhere, async () => {
        await api(`/dso/top-ups/${encodeURIComponent(t.reference)}/confirm`, { method: "POST" });
        b.closest("tr").remove();
        return `Top-up ${t.reference} minted: ${eur(t.amount)} to ${t.member}`;
      }),
    );
    return b;
  };
  const feeDays = new Map();
  for (const s of slots) {
    const d = dayOf(s.slot);
    const acc = feeDays.get(d) || { platform: 0, network: 0 };
    acc.platform += num(s.platform_fees);
    acc.network += num(s.network_fees);
    feeDays.set(d, acc);
  }
  const feeLabels = [...feeDays.keys()].map(dayLabel);
  const feeRows = [...feeDays.values()];
  const e2 = (v) => `€${(v / 1e9).toLocaleString("en", { maximumFractionDigits: 4 })}`;
  const feeSeries = [
    { name: "Platform fees", cls: "s-local", values: feeRows.map((r) => r.platform) },
    { name: "Network fees", cls: "s-grid", values: feeRows.map((r) => r.network) },
  ];
  const batteries = [...members].filter(([, v]) => v.role === "battery");
  const leases = new Map();
  for (const e of leaseSets) leases.set(e.member, e.per_period); // the last one set counts
  const leased = [...leases].filter(([, v]) => num(v) > 0);
  const flex = dsoFlexibility(ui);
  const start = startPeriod(periods, arg);
  const statementBox = h("div", {});
  const picker = await periodPicker(periods, start, "dso", (period, info) => renderDsoStatement(statementBox, period, info), "dso-period");
  await Promise.all([flex.refresh(), renderDsoStatement(statementBox, start, picker.info(start))]);
  out.push(
    h(
      "section",
      { class: "card wide", "aria-labelledby": "h-dso-statement" },
      h("h2", { id: "h-dso-statement" }, "Statement of account"),
      h("p", { class: "hint" }, "The DSO's accounts (fee, network and supply accounts) for a billing period, from what was settled: income positive, payments negative."),
      ...picker.controls,
      statementBox,
    ),
    section(
      "Members and meters",
      h("p", { class: "hint" }, "From the event index (registrations, role changes, exits, meter registrations)."),
      table("Members", ["Address", "Role", "Joined slot", "Status"], [...members].map(([a, v]) => [h("code", { title: a }, shortAddr(a)), v.role, String(v.joined), v.left ? "left" : "active"]), { numeric: [2] }),
      table("Meters", ["Meter", "Member", "Signing key", "Status"], meters.map((e) => [h("code", { title: e.meter_id }, shortAddr(e.meter_id)), h("code", { title: e.member }, shortAddr(e.member)), h("code", { title: e.signer }, shortAddr(e.signer)), gone.has(e.meter_id) ? "retired" : "active"])),
    ),
    section(
      "Top-ups to confirm",
      topUpWhere,
      table("Pending top-up requests", ["Reference", "Member", "Amount", "Requested", ""], pending.map((t) => [t.reference, h("code", { title: t.member }, shortAddr(t.member)), eur(t.amount), utc(t.requested_at), confirm(t)]), { numeric: [2] }),
    ),
    h(
      "section",
      { class: "card wide", "aria-labelledby": "h-tariffs" },
      h("h2", { id: "h-tariffs" }, "Tariffs"),
      table(
        "Tariff schedule (each from its slot until the next)",
        ["From slot", "Mode", "Retail", "Feed-in", "Grid fee", "P2P grid fee", "Trade fees buy / sell", "Service fee"],
        tariffs.map((t) => [String(t.from_slot), t.mode, perKwh(t.retail_price), perKwh(t.feed_in_price), perKwh(t.grid_fee), perKwh(t.p2p_grid_fee), `${perKwh(t.trade_fee_buy)} / ${perKwh(t.trade_fee_sell)}`, eur(t.service_fee)]),
      ),
    ),
    h(
      "section",
      { class: "card wide", "aria-labelledby": "h-fees" },
      h("h2", { id: "h-fees" }, "Fee income"),
      dl([
        ["Fee account balance", eur(fees.fee_balance)],
        ["Network account balance", eur(fees.network_balance)],
        [`Platform fees, period ${fees.period} so far`, eur(fees.period_platform_fees)],
        [`Last 30 days: ${income.slots_settled} settled slots`, `${eur(income.platform_fees)} platform fees + ${eur(income.network_fees)} network charges on local trades`, "fee-income"],
      ]),
      h(
        "p",
        { class: "hint" },
        "Platform fees: the fee per kWh bought and sold in the local market, paid to the fee account. Network charges on local trades: the reduced grid fee on energy bought locally, paid to the network account. The network charges on grid imports come with the settlement against the meters: see the statement of account.",
      ),
      feeRows.length
        ? barChart({
            title: "Fee income per day (last 30 days)",
            description: "Platform (trade) fees and network charges of the settled slots, per day.",
            categories: feeLabels,
            series: feeSeries,
            yLabel: "€",
            fmt: e2,
            table: table("Fee income per day", ["Day", "Platform fees", "Network fees"], feeLabels.map((l, i) => [l, e2(feeRows[i].platform), e2(feeRows[i].network)]), { numeric: [1, 2] }),
          })
        : h("p", { class: "empty" }, "No settled slots in the last 30 days."),
    ),
    flex.card,
    section(
      "Battery",
      h("p", { "data-testid": "battery-note" }, "The battery's lease and the result passed on to its lessees are in the statement of account above. The API has no state of charge or cycle data: only the members with the battery role are known, listed here; their trades and bills are their own, as for any member."),
      table("Battery members", ["Address", "Joined slot"], batteries.map(([a, v]) => [h("code", {}, a), String(v.joined)])),
      table("Battery leases", ["Lessee", "Lease per period"], leased.map(([a, v]) => [h("code", { title: a }, shortAddr(a)), eur(v)]), { numeric: [1] }),
      leaseForm(),
    ),
  );
  return out;
}

// -- market and audit ---------------------------------------------------------------------

async function marketView() {
  const m = state.market;
  const lo = Math.max(0, m.current_slot - SLOTS_SHOWN + 1);
  const [slots, status] = await Promise.all([sharing() ? [] : api("/slots", { params: { from_slot: lo, to_slot: m.current_slot }, auth: false }), api("/audit/status", { auth: false })]);
  const out = [h("h1", {}, "Market and audit")];
  const slotInput = h("input", { id: "slot-number", type: "number", min: 0, value: slots.length ? slots[slots.length - 1].slot : m.current_slot, inputmode: "numeric", required: true });
  const go = h("form", { class: "form inline" }, field("Slot", slotInput), h("button", { type: "submit" }, "Show supply and demand"));
  go.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/slot/${slotInput.value}`;
  });
  const priceChart = slots.length
    ? barLineChart({
        title: `Clearing price and volume, slots ${slots[0].slot}–${slots[slots.length - 1].slot}`,
        description: `${slots.length} settled slot(s) of the last ${SLOTS_SHOWN}. Bars: traded volume in kWh; dots and line: uniform or community clearing price in €/kWh (none for pay-as-bid or no trade).`,
        xs: slots.map((s) => s.slot),
        bars: { name: "Volume (kWh)", cls: "s-local", values: slots.map((s) => num(s.volume_wh) / 1000), fmt: (v) => v.toLocaleString("en", { maximumFractionDigits: 3 }) },
        line: { name: "Price (€/kWh)", cls: "s-price", values: slots.map((s) => (s.price === null ? null : num(s.price) / 1e6)), fmt: (v) => v.toFixed(4) },
        xLabel: "slot",
        table: table("Settled slots", ["Slot", "Mode", "Price", "Volume", "Trade value"], slots.map((s) => [slotLink(s.slot), s.mode, perKwh(s.price), kwh(s.volume_wh), eur(s.trade_value)]), { numeric: [2, 3, 4] }),
      })
    : h("p", { class: "empty" }, `No settled slots between ${lo} and ${m.current_slot}.`);
  out.push(
    sharing()
      ? section("Energy sharing", h("p", { "data-testid": "sharing-mode" }, `This community shares its production by the ${m.sharing_key} key: after each slot the members' production is allocated to the members' consumption from the meters' readings alone. There is no order book and nothing to trade; each member sees what the community covered under My account.`))
      : h("section", { class: "card wide", "aria-labelledby": "h-prices" }, h("h2", { id: "h-prices" }, "Clearing prices and volumes"), priceChart, go),
    section(
      "Audit status",
      h("p", { class: status.supply_conserved ? "badge good" : "badge bad", "data-testid": "supply-conserved" }, status.supply_conserved ? "Token supply = minted − redeemed" : "Token supply does NOT equal minted − redeemed"),
      dl([
        ["Settled against meters", status.next_slot > status.first_slot ? `slots ${status.first_slot}–${status.next_slot - 1}` : "none yet"],
        ["Last audit digest", status.last_digest ? h("code", { class: "wrap" }, status.last_digest) : "–"],
        ["Total supply", eur(status.total_supply)],
        ["Minted / redeemed", `${eur(status.total_minted)} / ${eur(status.total_redeemed)}`],
        ["Total debt", eur(status.total_debt)],
        ["Escrow held", eur(status.escrow_held)],
      ]),
      h(
        "p",
        { class: "hint" },
        "Settled against meters: the slots whose trades were compared with the meters' readings and the difference bought from or sold to the grid. The audit digest chains every such slot's figures. Total supply: the tokens in existence; minted: bought with top-ups; redeemed: paid back out. Total debt: what members owe because their balance could not cover a charge. Escrow held: what open on-chain buy orders hold until their slots settle.",
      ),
    ),
    auditCard(),
  );
  return out;
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const AUDIT_POLL_MS = 500;

/** The full audit's card, drawn at once: the last result the API kept (GET /audit/progress)
 * while a run at the head goes on (GET /audit/report), its phase and time shown each second,
 * then the new result. Auditors and the DSO only. */
function auditCard() {
  if (!hasRole("auditor") && !hasRole("dso")) {
    return section("Full audit", h("p", {}, "Auditors and the DSO can run the full audit here (every settlement rebuilt from chain events and checked against the rulebook). Anyone can run `gridshare audit` against the chain."), state.me ? null : signInButton());
  }
  const progress = h("p", { class: "hint", "data-testid": "audit-progress" }, "Starting the audit…");
  const result = h("div", { "data-testid": "audit-result" });
  const run = routing;
  const here = () => run === routing;
  const seconds = (ms) => `${(num(ms) / 1000).toFixed(1)} s`;
  (async () => {
    try {
      const before = await api("/audit/progress");
      if (before.last_report && before.last.block === before.head_block && !before.running) {
        progress.textContent = `Audited at block ${before.last.block}.`;
        result.replaceChildren(...auditResult(before.last_report, null));
        return;
      }
      if (before.last_report && here()) {
        result.replaceChildren(...auditResult(before.last_report, `Last result: block ${before.last.block}, finished ${utc(before.last.finished_at)} after ${seconds(before.last.elapsed_ms)}; the chain is at block ${before.head_block} now.`));
      }
      let finished = false;
      const report = api("/audit/report").finally(() => (finished = true));
      while (!finished && here()) {
        const p = await api("/audit/progress");
        if (p.running && !finished && here()) {
          const events = p.running.events_read === null ? "" : ` (${p.running.events_read} events read)`;
          progress.textContent = `Running the audit at block ${p.running.block}: ${p.running.phase}${events}, ${seconds(p.running.elapsed_ms)} so far.`;
        }
        await Promise.race([report.catch(() => null), sleep(AUDIT_POLL_MS)]);
      }
      const r = await report;
      if (!here()) return;
      progress.textContent = `Audited at block ${r.block}.`;
      result.replaceChildren(...auditResult(r, null));
    } catch (exc) {
      if (here()) progress.replaceChildren(errorBox(exc));
    }
  })();
  return section("Full audit", progress, result);
}

/** A full audit's report: the verdict, what was checked, and every discrepancy. */
function auditResult(r, caption) {
  return [
    caption ? h("p", { "data-testid": "audit-last" }, caption) : null,
    h("p", { class: r.ok ? "badge good" : "badge bad", "data-testid": "audit-ok" }, r.ok ? "No discrepancy" : `${r.discrepancies.length} discrepancies`),
    dl([
      ["At block", String(r.block)],
      ["Events read", String(r.events_read)],
      ["Slots checked (trades)", `${r.slots_checked}${r.slots ? ` (${r.slots[0]}–${r.slots[1]})` : ""}`],
      ["Slots checked against meters", String(r.slots_metered)],
      ["Periods checked", r.periods_checked.length ? r.periods_checked.join(", ") : "none"],
    ]),
    table(
      "Discrepancies",
      ["Slot", "Rule", "What was found", "Events"],
      r.discrepancies.map((d) => [
        d.slot === null ? "whole chain" : slotLink(d.slot),
        d.rule,
        d.detail,
        d.slot === null ? "" : h("span", { class: "links" }, eventsLink("Settlement", "SlotSettled", d.slot), " ", eventsLink("ImbalanceSettlement", "ImbalanceSettled", d.slot)),
      ]),
    ),
  ];
}

async function slotView(slotText) {
  const slot = Number(slotText);
  if (!Number.isInteger(slot) || slot < 0) throw new Error(`not a slot number: ${slotText}`);
  const [detail, placed, cancelled] = await Promise.all([
    api(`/slots/${slot}`, { auth: false }),
    allEvents("OrderBook", "OrderPlaced", `slot=${slot}`),
    allEvents("OrderBook", "OrderCancelled", `slot=${slot}`),
  ]);
  const gone = new Set(cancelled.map((e) => String(e.id)));
  const filled = new Map(detail.fills.map((f) => [String(f.order_id), f.filled_wh]));
  const direct = placed.filter((e) => !gone.has(String(e.id))).map((e) => ({ id: String(e.id), side: SIDES[e.side] || String(e.side), energy: num(e.energy_wh), price: num(e.limit_price), filled: num(filled.get(String(e.id)) || 0) }));
  // The signed intents the settlement carried are part of the book it cleared.
  const carried = (detail.intents || []).map((o) => ({ id: `intent ${o.intent_id.slice(0, 10)}…`, side: o.side, energy: num(o.energy_wh), price: num(o.limit_price), filled: num(o.filled_wh) }));
  const book = [...direct, ...carried];
  const sells = book.filter((o) => o.side === "sell").sort((a, b) => a.price - b.price);
  const buys = book.filter((o) => o.side === "buy").sort((a, b) => b.price - a.price);
  const cumulative = (orders) => {
    let c = 0;
    return orders.map((o) => [(c += o.energy), o.price]);
  };
  const clearing = detail.settled ? { volume: num(detail.volume_wh), price: detail.price === null ? null : num(detail.price) } : null;
  const fx = (wh) => `${(wh / 1000).toLocaleString("en", { maximumFractionDigits: 3 })}`;
  const fy = (p) => (p / 1e6).toFixed(3);
  const outcome = detail.settled
    ? detail.price === null
      ? `Settled (${detail.mode}): ${kwh(detail.volume_wh)} traded, no single clearing price.`
      : `Settled (${detail.mode}): ${kwh(detail.volume_wh)} at ${perKwh(detail.price)}.`
    : `Not settled yet (${detail.mode}); gate closes ${utc(detail.gate_closure)}.`;
  const chart = book.length
    ? curveChart({
        title: `Supply and demand, slot ${slot}`,
        description: `${sells.length} sell offer(s) and ${buys.length} buy bid(s) as step curves (${carried.length} of them signed intents). ${outcome}`,
        supply: cumulative(sells),
        demand: cumulative(buys),
        clearing,
        fmtX: fx,
        fmtY: fy,
        xLabel: "cumulative energy (kWh)",
        yLabel: "price (€/kWh)",
        table: table(`Order book, slot ${slot}`, ["Order", "Side", "Energy", "Limit", "Filled"], [...sells, ...buys].map((o) => [o.id, o.side, kwh(o.energy), perKwh(o.price), kwh(o.filled)]), { numeric: [2, 3, 4] }),
      })
    : h("p", { class: "empty" }, detail.orders ? "The index has not reached this slot's orders yet." : "No orders in this slot.");
  return [
    h("h1", {}, `Slot ${slot}`),
    h("p", { class: "slot-nav" }, slot > 0 ? h("a", { href: `#/slot/${slot - 1}` }, "← previous slot") : null, " ", h("a", { href: `#/slot/${slot + 1}` }, "next slot →"), " ", h("a", { href: "#/market" }, "all slots")),
    h(
      "section",
      { class: "card wide", "aria-labelledby": "h-curves" },
      h("h2", { id: "h-curves" }, "Supply and demand"),
      h("p", { "data-testid": "slot-outcome" }, outcome, ` Starts ${slotTime(slot)}.`),
      chart,
    ),
    section("Events of this slot", h("ul", { class: "links" }, [["OrderBook", "OrderPlaced"], ["OrderBook", "OrderCancelled"], ["Settlement", "SlotSettled"], ["ImbalanceSettlement", "ImbalanceSettled"], ["ImbalanceSettlement", "SlotDigest"]].map(([c, e]) => h("li", {}, eventsLink(c, e, slot))).concat(h("li", {}, h("a", { href: `/slots/${slot}/readings` }, "Meter readings (single and in spans)"))))),
  ];
}

// -- routing ------------------------------------------------------------------------------

const VIEWS = {
  member: ["My account", memberView],
  dso: ["DSO", dsoView],
  market: ["Market and audit", marketView],
  slot: ["Slot", slotView],
};

let routing = 0;

async function route() {
  const run = ++routing;
  const [, page = "market", arg] = (location.hash || "#/market").split("/");
  const [title, view] = VIEWS[page] || VIEWS.market;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${page}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.setAttribute("aria-busy", "true");
  let content;
  try {
    state.market = await api("/market", { auth: false });
    content = await view(arg);
  } catch (exc) {
    content = [h("h1", {}, title), errorBox(exc)];
  }
  if (run !== routing) return;
  main.replaceChildren(...content);
  main.setAttribute("aria-busy", "false");
  document.title = `${title} · gridshare`;
}

document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  main.focus();
});

window.addEventListener("hashchange", async () => {
  await route();
  main.focus();
});

await loadMe();
renderSession();
await route();
document.body.dataset.ready = "true";
