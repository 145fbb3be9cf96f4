// DSO flexibility in the dashboard. Members: the requests open for offers (with their own offer),
// an offer form (signed by the wallet as an EIP-712 OfferIntent, relayed by the API, so no ether
// is needed) and their flexibility earnings. The DSO: every request with its offers, acceptance,
// delivery and payout, and a form to publish a request. Page helpers come from app.js as `ui`.
import { api } from "./api.js";
import { eur, h, perKwh, priceField, shortAddr, table, utc, whField } from "./format.js";
import { signTypedData } from "./wallet.js";

const DIRECTION_TEXT = { reduce_import: "reduce import", reduce_export: "reduce export" };
const wh = (v) => `${BigInt(v).toLocaleString("en")} Wh`;
const signedWh = (v) => (v === null || v === undefined ? "–" : `${BigInt(v).toLocaleString("en")} Wh`);
const code = (a) => h("code", { title: a }, shortAddr(a));

/** A request this deployment does not have: the API says so with code no_flexibility. */
function unavailable(exc) {
  return exc && exc.code === "no_flexibility" ? h("p", { class: "empty" }, "This deployment has no flexibility contract.") : null;
}

// -- member -------------------------------------------------------------------------------

/** The member's flexibility card: open requests, the offer form, earnings. */
export function memberFlexibility(ui) {
  const requestsBox = h("div", {});
  const formBox = h("div", {});
  const earningsBox = h("div", {});
  const refresh = async () => {
    let requests, earnings;
    try {
      [requests, earnings] = await Promise.all([api("/flexibility/requests"), api("/flexibility/earnings")]);
    } catch (exc) {
      requestsBox.replaceChildren(unavailable(exc) || ui.errorBox(exc));
      formBox.replaceChildren();
      earningsBox.replaceChildren();
      return;
    }
    renderOpenRequests(requestsBox, requests, ui);
    formBox.replaceChildren(offerForm(requests, ui, refresh));
    renderEarnings(earningsBox, earnings, ui);
  };
  const card = h(
    "section",
    { class: "card wide", "aria-labelledby": "h-flexibility" },
    h("h2", { id: "h-flexibility" }, "Flexibility"),
    h("p", { class: "hint" }, "The DSO buys flexibility for congested slots: offer to reduce your import (or export) in a slot for a price per kWh. Accepted offers are paid for what your meter shows you delivered against your usual use (the mean of your last 5 days with readings in that slot); a shortfall costs the penalty."),
    requestsBox,
    formBox,
    earningsBox,
  );
  return { card, refresh };
}

function renderOpenRequests(box, requests, ui) {
  const mine = (r) => (r.my_offer ? `${wh(r.my_offer.quantity_wh)} at ${perKwh(r.my_offer.price)}` : "none");
  const t = table(
    "Open flexibility requests",
    ["Request", "Slot", "Direction", "Quantity", "Max price", "Penalty", "Offers close", "My offer"],
    requests.map((r) => [String(r.request_id), h("span", {}, ui.slotLink(r.slot), h("br"), h("small", {}, ui.slotTime(r.slot))), DIRECTION_TEXT[r.direction], wh(r.quantity_wh), perKwh(r.max_price), perKwh(r.penalty), utc(r.gate_closure), mine(r)]),
    { numeric: [3, 4, 5] },
  );
  t.querySelector("table").setAttribute("data-testid", "flex-open-requests");
  box.replaceChildren(t);
}

function offerForm(requests, ui, after) {
  const where = h("div", {});
  const open = requests.filter((r) => r.open_for_offers && !r.my_offer);
  if (!open.length) return h("p", { class: "empty", "data-testid": "flex-no-open" }, "No request open for an offer from you right now.");
  const request = h(
    "select",
    { id: "flex-request", name: "request" },
    open.map((r) => h("option", { value: r.request_id }, `Request ${r.request_id}: slot ${r.slot}, ${DIRECTION_TEXT[r.direction]} up to ${wh(r.quantity_wh)}, at most ${perKwh(r.max_price)}`)),
  );
  const chosen = () => open.find((r) => String(r.request_id) === request.value);
  const quantity = h("input", { id: "flex-quantity", name: "quantity", type: "number", min: 1, step: 1, value: String(chosen().quantity_wh), required: true, inputmode: "numeric" });
  const price = h("input", { id: "flex-price", name: "price", type: "text", inputmode: "decimal", value: perKwh(chosen().max_price).split(" ")[0], required: true, pattern: "\\d+(\\.\\d{1,6})?" });
  const submit = h("button", { type: "submit" }, "Sign and make offer");
  const form = h(
    "form",
    { class: "form", "aria-labelledby": "h-flex-offer" },
    h("h3", { id: "h-flex-offer" }, "Make a flexibility offer"),
    h("p", { class: "hint" }, "Your wallet signs the offer (EIP-712); the API relays it, so you need no ether. One offer per request; the cheapest offers are accepted first, each paid its own price."),
    ui.field("Request", request),
    ui.field("Quantity (Wh)", quantity),
    ui.field("Price (€/kWh)", price, "At most the request's maximum price."),
    submit,
    where,
  );
  ui.onSubmit(form, submit, where, async () => {
    const p = priceField(price, "price", "0.09");
    const q = whField(quantity, "quantity");
    const rid = Number(request.value);
    const td = await api("/flexibility/offers/typed-data", { method: "POST", body: { request_id: rid, quantity_wh: q, price: p } });
    const typed = td.typed_data;
    const signature = await signTypedData(ui.me().address, typed);
    const msg = typed.message;
    const placed = await api("/flexibility/offers", {
      method: "POST",
      body: { member: msg.member, request_id: msg.requestId, quantity_wh: msg.quantityWh, price: msg.price, nonce: msg.nonce, deadline: msg.deadline, signature },
    });
    await after();
    return `Offer ${placed.index} made on flexibility request ${placed.request_id}`;
  });
  return form;
}

function renderEarnings(box, earnings, ui) {
  const rows = earnings.deliveries.map((d) => [
    String(d.request_id),
    d.slot >= 0 ? ui.slotLink(d.slot) : "–",
    wh(d.accepted_wh),
    d.measured ? wh(d.delivered_wh) : "not measured",
    signedWh(d.baseline_wh),
    signedWh(d.metered_wh),
    eur(d.payment),
    eur(d.penalty),
    eur(BigInt(d.payment) - BigInt(d.penalty)),
  ]);
  const t = table("Flexibility earnings per request", ["Request", "Slot", "Accepted", "Delivered", "Baseline (net import)", "Metered (net import)", "Payment", "Penalty", "Net"], rows, { numeric: [2, 3, 4, 5, 6, 7, 8] });
  t.querySelector("table").setAttribute("data-testid", "flex-earnings");
  box.replaceChildren(
    h("h3", {}, "My flexibility earnings"),
    h("p", { class: "hint", "data-testid": "flex-earnings-slots" }, `For the requests of slots ${earnings.from_slot}–${earnings.to_slot}, the latest the API lists at once.`),
    ui.dl([
      ["Paid for flexibility", eur(earnings.earned), "flex-earned"],
      ["Shortfall penalties", eur(earnings.penalties), "flex-penalties"],
      ["Net", eur(earnings.net), "flex-net"],
    ]),
    t,
  );
}

// -- DSO ----------------------------------------------------------------------------------

/** The DSO's flexibility card: the publish form and every request with what became of it. */
export function dsoFlexibility(ui) {
  const listBox = h("div", {});
  const refresh = async () => {
    let requests;
    try {
      requests = await api("/dso/flexibility/requests");
    } catch (exc) {
      listBox.replaceChildren(unavailable(exc) || ui.errorBox(exc));
      return;
    }
    renderDsoRequests(listBox, requests);
  };
  const card = h(
    "section",
    { class: "card wide", "aria-labelledby": "h-dso-flexibility" },
    h("h2", { id: "h-dso-flexibility" }, "Flexibility"),
    publishForm(ui, refresh),
    listBox,
  );
  return { card, refresh };
}

function publishForm(ui, after) {
  const m = ui.market();
  const where = h("div", {});
  const slot = h("input", { id: "flex-slot", name: "slot", type: "number", min: m.current_slot + 1, value: m.current_slot + 4, required: true, inputmode: "numeric" });
  const slotHint = h("span", {}, "");
  const showTime = () => (slotHint.textContent = slot.value ? `starts ${ui.slotTime(Number(slot.value))} (chain time)` : "");
  slot.addEventListener("input", showTime);
  showTime();
  const direction = h("select", { id: "flex-direction", name: "direction" }, h("option", { value: "reduce_import" }, "Reduce import"), h("option", { value: "reduce_export" }, "Reduce export"));
  const quantity = h("input", { id: "flex-request-quantity", name: "quantity", type: "number", min: 1, step: 1, value: 1000, required: true, inputmode: "numeric" });
  const maxPrice = h("input", { id: "flex-max-price", name: "max_price", type: "text", inputmode: "decimal", value: "0.15", required: true, pattern: "\\d+(\\.\\d{1,6})?" });
  const submit = h("button", { type: "submit" }, "Publish request");
  const form = h(
    "form",
    { class: "form", "aria-labelledby": "h-flex-publish" },
    h("h3", { id: "h-flex-publish" }, "Publish a flexibility request"),
    h("p", { class: "hint" }, "The budget (quantity × maximum price) is escrowed from the network account, which must hold it. Offers are taken until the slot's order-book gate closure."),
    ui.field("Delivery slot", slot, slotHint),
    ui.field("Direction", direction),
    ui.field("Quantity (Wh)", quantity),
    ui.field("Maximum price (€/kWh)", maxPrice),
    submit,
    where,
  );
  ui.onSubmit(form, submit, where, async () => {
    const p = priceField(maxPrice, "maximum price", "0.15");
    const q = whField(quantity, "quantity");
    await api("/dso/flexibility/requests", { method: "POST", body: { slot: Number(slot.value), direction: direction.value, quantity_wh: q, max_price: p } });
    await after();
    return `Flexibility request published for slot ${slot.value}`;
  });
  return form;
}

function renderDsoRequests(box, requests) {
  const newest = [...requests].reverse();
  const status = (r) => (r.status === "open" && !r.open_for_offers ? "gate closed, awaiting acceptance" : r.status);
  const delivered = (r) => r.deliveries.reduce((s, d) => s + BigInt(d.delivered_wh), 0n);
  const summary = table(
    "Flexibility requests",
    ["Request", "Slot", "Direction", "Quantity", "Max price", "Offers close", "Status", "Offers", "Accepted", "Delivered", "Paid", "Penalties", "Refunded"],
    newest.map((r) => [
      String(r.request_id),
      String(r.slot),
      DIRECTION_TEXT[r.direction],
      wh(r.quantity_wh),
      perKwh(r.max_price),
      utc(r.gate_closure),
      status(r),
      String(r.offers),
      r.accepted_wh === null ? "–" : wh(r.accepted_wh),
      r.payout ? wh(delivered(r)) : "–",
      r.payout ? eur(r.payout.paid) : "–",
      r.payout ? eur(r.payout.penalties) : "–",
      r.payout ? eur(r.payout.refunded) : "–",
    ]),
    { numeric: [3, 4, 7, 8, 9, 10, 11, 12] },
  );
  summary.querySelector("table").setAttribute("data-testid", "flex-requests");
  const details = newest
    .filter((r) => r.offer_list.length)
    .map((r) => {
      const byIndex = new Map(r.deliveries.map((d) => [d.index, d]));
      return h(
        "details",
        {},
        h("summary", {}, `Request ${r.request_id}: ${r.offer_list.length} offer(s)`),
        table(
          `Offers on request ${r.request_id}`,
          ["Offer", "Member", "Quantity", "Price", "Accepted", "Delivered", "Payment", "Penalty"],
          r.offer_list.map((o) => {
            const d = byIndex.get(o.index);
            return [
              String(o.index),
              code(o.member),
              wh(o.quantity_wh),
              perKwh(o.price),
              r.accepted ? wh(r.accepted[o.index]) : "–",
              d ? (d.measured ? wh(d.delivered_wh) : "not measured") : "–",
              d ? eur(d.payment) : "–",
              d ? eur(d.penalty) : "–",
            ];
          }),
          { numeric: [2, 3, 4, 5, 6, 7] },
        ),
      );
    });
  box.replaceChildren(summary, ...details);
}
