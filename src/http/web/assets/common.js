// What both pages share: the API client (the key from this tab's session storage, sent as a
// Bearer header, never in a URL), the language switch, KRW amounts, dates, and DOM helpers
// that only ever set text (never HTML), so nothing a server or a person typed can run.
import { TEXT } from "./i18n.js";

const KEY = "paytree.key";
const LANG = "paytree.lang";

export function lang() {
  const saved = localStorage.getItem(LANG);
  if (saved === "en" || saved === "ko") return saved;
  return navigator.language && navigator.language.startsWith("ko") ? "ko" : "en";
}

/** The text of `key` in the current language, with `{name}` filled from `values`. */
export function t(key, values = {}) {
  const text = TEXT[lang()][key] ?? TEXT.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** Sets every `[data-t]` element's text (and `[data-t-label]`'s aria-label) to the current language. */
export function translate(root = document) {
  document.documentElement.lang = lang();
  for (const node of root.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of root.querySelectorAll("[data-t-placeholder]")) {
    node.placeholder = t(node.dataset.tPlaceholder);
  }
}

/** Switches the language, keeps the choice, and redraws through `redraw`. */
export function setupLanguage(button, redraw) {
  const show = () => {
    translate();
    redraw();
  };
  button.addEventListener("click", () => {
    localStorage.setItem(LANG, lang() === "en" ? "ko" : "en");
    show();
  });
  translate();
}

const won = () => new Intl.NumberFormat("ko-KR", { style: "currency", currency: "KRW" });
/** 38000 → "₩38,000". */
export const krw = (amount) => won().format(amount);

/** An RFC 3339 time as a short local date and time. */
export function when(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(lang() === "ko" ? "ko-KR" : "en-GB", {
    dateStyle: "medium",
    timeStyle: "short",
  }).format(new Date(iso));
}

/** An element with text and attributes; children appended. Text only, never HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An answer that is not 2xx: its status, problem body and Retry-After. */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.retryAfter = retryAfter;
  }
  get type() {
    return (this.problem.type || "").replace("/problems/", "");
  }
}

/** Calls the API with the tab's key; resolves to `{body, headers}`, rejects with ApiError. */
export async function api(path, { method = "GET", body, headers = {}, key: given } = {}) {
  const sent = { ...headers, Authorization: `Bearer ${given ?? key.get() ?? ""}` };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, { title: t("error.network") });
  }
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new ApiError(response.status, parsed, Number(response.headers.get("Retry-After")) || 1);
  }
  return { body: parsed, headers: response.headers };
}

/** The message for a failed command: a decline, an outage (with when to retry), or other. */
export function explain(error) {
  switch (error.type) {
    case "payment-declined":
      return t("error.declined");
    case "payment-unavailable":
      return t("error.unavailable", { seconds: error.retryAfter });
    case "order-already-shipped":
      return t("error.shipped");
    case "validation-failed":
      return t("error.invalid");
    case "aggregate-busy":
    case "service-unavailable":
    case "rate-limited":
      return t("error.busy");
    default:
      return error.status === 0 ? t("error.network") : t("error.other", { status: error.status });
  }
}

/**
 * Shows a 422's field errors next to their inputs: `fields` maps the API's field names to the
 * ids of inputs; each input's error is the element `#<id>-error`. Clears the others.
 */
export function showFieldErrors(fields, error) {
  const errors = error?.problem?.errors || [];
  for (const [field, id] of Object.entries(fields)) {
    const input = document.getElementById(id);
    const slot = document.getElementById(`${id}-error`);
    const found = errors.find((e) => e.field === field);
    if (slot) slot.textContent = found ? found.message : "";
    if (input) {
      if (found) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }
}

/**
 * The sign-in form: checks the key with GET /me and hands the key's record to `accepted`,
 * which says whether the page takes it (a message key if not).
 */
export function setupSignIn(form, input, message, accepted) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const candidate = input.value.trim();
    try {
      const { body } = await api("/me", { key: candidate });
      const refusal = accepted(body);
      if (refusal) {
        message.textContent = t(refusal);
        return;
      }
      key.set(candidate);
      input.value = "";
      location.reload();
    } catch (error) {
      message.textContent =
        error.status === 401 ? t("signin.refused") : error.status === 429 ? t("signin.limited") : explain(error);
      input.focus();
    }
  });
}

/** The key's record if the tab holds a key that still works, else null (and it is dropped). */
export async function whoami() {
  if (!key.get()) return null;
  try {
    return (await api("/me")).body;
  } catch (error) {
    if (error.status === 401) key.clear();
    return null;
  }
}

/** Runs `work` now and every `ms` while the page is visible. */
export function every(ms, work) {
  const tick = async () => {
    if (document.visibilityState === "visible") {
      try {
        await work();
      } catch {
        // The next tick tries again.
      }
    }
    setTimeout(tick, ms);
  };
  tick();
}
