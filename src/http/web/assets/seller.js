// The seller's shipping desk: the pending shipments, each shipped with a carrier and a
// tracking number. It reads them every few seconds, so shipments whose order was cancelled
// meanwhile drop out.
import { api, el, every, explain, key, krw, setupLanguage, setupSignIn, t, translate, whoami } from "./common.js";

const $ = (id) => document.getElementById(id);
let pending = [];

async function start() {
  const me = await whoami();
  const signedIn = me && (me.role === "seller" || me.role === "admin");
  $("signin-section").hidden = signedIn;
  $("shipments").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  setupLanguage($("lang"), render);
  setupSignIn($("signin"), $("signin-key"), $("signin-error"), (record) =>
    record.role === "seller" || record.role === "admin" ? null : "signin.seller-only");
  if (!signedIn) {
    if (me) $("signin-error").textContent = t("signin.seller-only");
    return;
  }
  $("who").hidden = false;
  $("who").textContent = me.name || me.id;
  $("signout").addEventListener("click", () => {
    key.clear();
    location.reload();
  });
  every(3000, load);
}

async function load() {
  const { body } = await api("/shipments?status=pending&limit=200");
  pending = body.items;
  render();
}

function render() {
  translate();
  const list = $("shipment-list");
  // Keep what a person is typing: a shipment being filled in is not redrawn.
  const typing = document.activeElement?.closest?.("li[data-id]")?.dataset.id;
  const keep = new Map([...list.querySelectorAll("li[data-id]")].map((li) => [li.dataset.id, li]));
  list.replaceChildren(
    ...pending.map((s) => (String(s.id) === typing && keep.get(typing)) || item(s)),
  );
  if (!pending.length) list.append(el("li", { class: "empty", text: t("shipments.none") }));
}

function item(s) {
  const carrier = `carrier-${s.id}`;
  const tracking = `tracking-${s.id}`;
  const a = s.shippingAddress;
  const form = el("form", { class: "inline", novalidate: true },
    el("div", { class: "field" },
      el("label", { for: carrier, text: t("shipments.carrier") }),
      el("input", { id: carrier, name: "carrier", autocomplete: "off", "aria-describedby": `${carrier}-error` }),
      el("span", { id: `${carrier}-error`, class: "field-error" })),
    el("div", { class: "field" },
      el("label", { for: tracking, text: t("shipments.tracking") }),
      el("input", { id: tracking, name: "tracking", autocomplete: "off", "aria-describedby": `${tracking}-error` }),
      el("span", { id: `${tracking}-error`, class: "field-error" })),
    el("button", { type: "submit", text: t("shipments.ship"), "aria-label": `${t("shipments.ship")} #${s.id}` }),
  );
  form.addEventListener("submit", (event) => ship(event, s, form));
  return el("li", { dataset: { id: s.id, order: s.orderId } },
    el("span", { class: "order-id", text: t("shipments.order", { id: s.orderId, customer: s.customerId }) }),
    el("span", { class: "items", text: s.items.map((i) => t("orders.item", { quantity: i.quantity, name: i.name })).join(", ") }),
    el("span", { class: "price", text: krw(s.items.reduce((sum, i) => sum + i.amount, 0)) }),
    el("span", { class: "address", text: [a.name, a.line1, a.line2, a.city, a.postalCode, a.country].filter(Boolean).join(", ") }),
    form,
  );
}

async function ship(event, shipment, form) {
  event.preventDefault();
  const message = $("seller-message");
  const carrier = form.elements.carrier;
  const tracking = form.elements.tracking;
  message.textContent = "";
  try {
    await api(`/shipments/${shipment.id}/ship`, {
      method: "POST",
      body: { carrier: carrier.value, trackingNumber: tracking.value },
    });
    message.textContent = t("shipments.shipped", { id: shipment.id });
    document.activeElement?.blur?.();
    await load();
  } catch (error) {
    const errors = error.problem?.errors || [];
    for (const [field, input] of [["carrier", carrier], ["trackingNumber", tracking]]) {
      const found = errors.find((e) => e.field === field);
      $(`${input.id}-error`).textContent = found ? found.message : "";
      if (found) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
    message.textContent = error.type === "shipment-cancelled"
      ? t("shipments.cancelled", { id: shipment.id })
      : explain(error);
    if (error.type === "shipment-cancelled") await load();
  }
}

start();
