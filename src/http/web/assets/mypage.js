// The customer's mypage: payment methods, the shop and a basket, orders, notices. It reads
// the mypage view (GET /mypages/{customerId}) every few seconds and after each of its own
// commands, waiting for that command's event (minPosition), so it shows its own writes.
import {
  api, el, every, explain, key, krw, setupLanguage, setupSignIn, showFieldErrors, t, translate,
  when, whoami,
} from "./common.js";

const $ = (id) => document.getElementById(id);
const state = { customer: null, view: null, products: [], basket: new Map(), watching: new Set() };

async function start() {
  const me = await whoami();
  const signedIn = me && me.role === "customer";
  $("signin-section").hidden = signedIn;
  $("signed-in").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  setupLanguage($("lang"), render);
  setupSignIn($("signin"), $("signin-key"), $("signin-error"), (record) =>
    record.role === "customer" ? null : "signin.customer-only");
  if (!signedIn) {
    if (me) $("signin-error").textContent = t("signin.customer-only");
    return;
  }
  state.customer = me.customerId;
  $("who").textContent = t("who", { who: state.customer });
  $("who").hidden = false;
  $("signout").addEventListener("click", () => {
    key.clear();
    location.reload();
  });
  $("add-method").addEventListener("submit", addMethod);
  $("confirm").addEventListener("close", confirmed);
  $("order-form").addEventListener("submit", placeOrder);
  await loadProducts();
  every(3000, () => refresh());
}

async function refresh(minPosition) {
  const query = minPosition ? `?minPosition=${minPosition}` : "";
  try {
    const { body } = await api(`/mypages/${encodeURIComponent(state.customer)}${query}`);
    state.view = body;
  } catch (error) {
    if (error.status === 401) {
      key.clear();
      location.reload();
      return;
    }
    if (!minPosition) throw error;
  }
  render();
}

/** Reads the view once it has the event of the command whose answer this is. */
function refreshAfter(headers) {
  return refresh(headers.get("Paytree-Position") || undefined);
}

async function loadProducts() {
  const { body } = await api("/products?limit=200");
  state.products = body.items;
}

function render() {
  translate();
  $("who").textContent = t("who", { who: state.customer ?? "" });
  renderMethods();
  renderProducts();
  renderBasket();
  renderOrders();
  renderNotices();
}

const methods = () => state.view?.paymentMethods ?? [];

function renderMethods() {
  const list = $("method-list");
  const editing = list.querySelector("form input")?.closest("li")?.dataset.id;
  if (editing) return; // do not redraw under the person's typing
  list.replaceChildren(
    ...methods().map((m) =>
      el("li", { dataset: { id: m.id } },
        el("span", { class: "brand", text: m.kind === "card" ? (m.brand ?? "card").toUpperCase() : t("add.bank") }),
        el("span", { class: "masked", text: m.maskedNumber }),
        el("span", { class: "dates", text: `${t("methods.added", { date: when(m.createdAt) })} · ${t("methods.changed", { date: when(m.updatedAt) })}` }),
        el("span", { class: "actions" },
          el("button", { type: "button", class: "quiet", text: t("methods.change"), onclick: () => changeForm(m) }),
          el("button", { type: "button", class: "danger", text: t("methods.remove"), onclick: () => remove(m) }),
        ),
      )),
  );
  if (!methods().length) list.append(el("li", { class: "empty", text: t("methods.none") }));
  const select = $("order-method");
  const chosen = select.value;
  select.replaceChildren(...methods().map((m) => el("option", { value: m.id, text: m.maskedNumber })));
  if (chosen && methods().some((m) => String(m.id) === chosen)) select.value = chosen;
}

async function addMethod(event) {
  event.preventDefault();
  const number = $("add-number");
  const message = $("add-method-message");
  const body = { kind: $("add-kind").value, number: number.value };
  // The number leaves the page with this request and is never kept by it.
  number.value = "";
  message.textContent = "";
  showFieldErrors({ number: "add-number", kind: "add-kind" }, null);
  try {
    const { body: method, headers } = await api("/paymethods", {
      method: "POST",
      body,
      headers: { "Idempotency-Key": crypto.randomUUID() },
    });
    message.textContent = t("add.done", { masked: method.maskedNumber });
    await refreshAfter(headers);
  } catch (error) {
    showFieldErrors({ number: "add-number", kind: "add-kind" }, error);
    message.textContent = explain(error);
    number.focus();
  }
}

function changeForm(method) {
  const item = $("method-list").querySelector(`li[data-id="${method.id}"]`);
  const id = `change-${method.id}`;
  const input = el("input", { id, inputmode: "numeric", autocomplete: "off", spellcheck: "false", "aria-describedby": `${id}-error` });
  const form = el("form", { class: "inline", novalidate: true },
    el("label", { for: id, text: t("methods.new-number") }),
    input,
    el("span", { id: `${id}-error`, class: "field-error" }),
    el("button", { type: "submit", text: t("methods.save") }),
    el("button", { type: "button", class: "quiet", text: t("methods.cancel"), onclick: () => form.remove() }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = input.value;
    input.value = "";
    try {
      const { headers } = await api(`/paymethods/${method.id}`, {
        method: "PATCH",
        body: { number },
        headers: { "If-Match": `"${method.version}"` },
      });
      form.remove();
      await refreshAfter(headers);
    } catch (error) {
      showFieldErrors({ number: id }, error);
      if (error.type !== "validation-failed") $(`${id}-error`).textContent = explain(error);
      input.focus();
    }
  });
  item.append(form);
  input.focus();
}

/** The removal the open confirmation asks about; its answer is read when the dialog closes. */
let confirming = null;

function remove(method) {
  const dialog = $("confirm");
  $("confirm-text").textContent = t("confirm.remove", { masked: method.maskedNumber });
  // Escape closes the dialog without a value: an earlier "yes" must not answer this one.
  dialog.returnValue = "";
  confirming = method;
  dialog.showModal();
}

/** One listener for every confirmation. A close event comes a moment after the closing, so
 * one can arrive after the dialog has been opened again: that one is not the answer. */
async function confirmed() {
  const dialog = $("confirm");
  if (dialog.open || !confirming) return;
  const method = confirming;
  confirming = null;
  if (dialog.returnValue !== "yes") return;
  try {
    const { headers } = await api(`/paymethods/${method.id}`, {
      method: "DELETE",
      headers: { "If-Match": `"${method.version}"` },
    });
    await refreshAfter(headers);
  } catch (error) {
    $("add-method-message").textContent = explain(error);
  }
}

function renderProducts() {
  const list = $("products");
  list.replaceChildren(
    ...state.products.map((p) =>
      el("li", { dataset: { sku: p.sku } },
        el("span", { class: "name", text: p.name }),
        el("span", { class: "price", text: krw(p.unitPrice) }),
        el("button", { type: "button", text: t("catalogue.add"), "aria-label": `${t("catalogue.add")}: ${p.name}`, onclick: () => {
          state.basket.set(p.sku, (state.basket.get(p.sku) ?? 0) + 1);
          renderBasket();
        } }),
      )),
  );
  if (!state.products.length) list.append(el("li", { class: "empty", text: t("catalogue.none") }));
}

function renderBasket() {
  const lines = [...state.basket].map(([sku, quantity]) => ({ product: state.products.find((p) => p.sku === sku), quantity }));
  $("basket-lines").replaceChildren(
    ...lines.map(({ product, quantity }) =>
      el("li", { dataset: { sku: product.sku } },
        el("span", { text: t("orders.item", { quantity, name: product.name }) }),
        el("span", { class: "price", text: krw(product.unitPrice * quantity) }),
        el("button", { type: "button", class: "quiet", text: t("basket.remove"), "aria-label": `${t("basket.remove")}: ${product.name}`, onclick: () => {
          if (quantity > 1) state.basket.set(product.sku, quantity - 1);
          else state.basket.delete(product.sku);
          renderBasket();
        } }),
      )),
  );
  if (!lines.length) $("basket-lines").append(el("li", { class: "empty", text: t("basket.empty") }));
  $("basket-total").textContent = krw(lines.reduce((sum, l) => sum + l.product.unitPrice * l.quantity, 0));
}

const ADDRESS_FIELDS = {
  "shippingAddress.name": "addr-name",
  "shippingAddress.line1": "addr-line1",
  "shippingAddress.line2": "addr-line2",
  "shippingAddress.city": "addr-city",
  "shippingAddress.postalCode": "addr-postal",
  "shippingAddress.country": "addr-country",
  paymethodId: "order-method",
};

async function placeOrder(event) {
  event.preventDefault();
  const message = $("order-message");
  message.textContent = "";
  if (!methods().length) {
    message.textContent = t("order.need-method");
    return;
  }
  const line2 = $("addr-line2").value.trim();
  const body = {
    paymethodId: Number($("order-method").value),
    items: [...state.basket].map(([sku, quantity]) => ({ sku, quantity })),
    shippingAddress: {
      name: $("addr-name").value,
      line1: $("addr-line1").value,
      line2: line2 === "" ? null : line2,
      city: $("addr-city").value,
      postalCode: $("addr-postal").value,
      country: $("addr-country").value.trim().toUpperCase(),
    },
  };
  showFieldErrors(ADDRESS_FIELDS, null);
  try {
    const { body: order, headers } = await api("/orders", {
      method: "POST",
      body,
      headers: { "Idempotency-Key": crypto.randomUUID() },
    });
    state.basket.clear();
    message.textContent = t("order.placed", { id: order.id, total: krw(order.total) });
    await refreshAfter(headers);
  } catch (error) {
    showFieldErrors(ADDRESS_FIELDS, error);
    const lines = (error.problem?.errors || []).filter((e) => e.field.startsWith("items"));
    message.textContent = [explain(error), ...lines.map((e) => `${e.field}: ${e.message}`)].join(" ");
  }
}

function statusOf(order) {
  if (order.status === "shipped" && order.cancellation?.outcome === "refused-shipped") return "refused";
  return order.status;
}

function renderOrders() {
  const orders = state.view?.orders ?? [];
  $("order-list").replaceChildren(
    ...orders.map((o) =>
      el("li", { dataset: { id: o.id, status: statusOf(o) } },
        el("span", { class: "order-id", text: `#${o.id}` }),
        el("span", { class: `status ${o.status}`, text: t(`status.${statusOf(o)}`) }),
        el("span", { class: "price total", text: krw(o.total) }),
        el("span", { class: "items", text: o.items.map((i) => t("orders.item", { quantity: i.quantity, name: i.name })).join(", ") }),
        el("span", { class: "dates", text: when(o.createdAt) }),
        o.status === "placed"
          ? el("button", { type: "button", class: "danger", text: t("orders.cancel"), "aria-label": `${t("orders.cancel")} #${o.id}`, onclick: () => cancel(o) })
          : null,
      )),
  );
  if (!orders.length) $("order-list").append(el("li", { class: "empty", text: t("orders.none") }));
}

async function cancel(order) {
  try {
    const { headers } = await api(`/orders/${order.id}/cancel`, { method: "POST" });
    await refreshAfter(headers);
    watch(order.id);
  } catch (error) {
    $("order-message").textContent = explain(error);
    await refresh();
  }
}

/** Reads the view often until the cancellation has ended (refunded, or refused). */
function watch(id) {
  if (state.watching.has(id)) return;
  state.watching.add(id);
  const look = async (tries) => {
    await refresh().catch(() => {});
    const order = state.view?.orders?.find((o) => o.id === id);
    if (order?.status === "cancelling" && tries > 0) setTimeout(() => look(tries - 1), 300);
    else state.watching.delete(id);
  };
  setTimeout(() => look(100), 300);
}

function renderNotices() {
  const notices = state.view?.recentMessages ?? [];
  $("notice-list").replaceChildren(
    ...notices.map((m) =>
      el("li", { dataset: { id: m.id, type: m.type } },
        el("span", { class: "dates", text: when(m.createdAt) }),
        el("span", { text: m.text }),
      )),
  );
  if (!notices.length) $("notice-list").append(el("li", { class: "empty", text: t("notices.none") }));
}

start();
