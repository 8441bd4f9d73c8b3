// paytree's web pages in a real headless Chromium (Debian's), driven by Playwright: the
// customer's mypage and the seller's shipping desk against a running paytree (BASE, with its
// admin key in ADMIN_KEY), every scenario the web issue names, axe-core on every page, and a
// failure on any Content-Security-Policy violation or script error. With SCREENSHOTS set, it
// writes mypage.png and seller.png there (the README's pictures).
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const BASE = process.env.BASE;
const ADMIN = process.env.ADMIN_KEY;
const SHOTS = process.env.SCREENSHOTS;
const axeSource = readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
const started = Date.now();
let checks = 0;

function ok(condition, what) {
  if (!condition) throw new Error(`FAILED: ${what}`);
  checks += 1;
  console.log(`ok   ${what}`);
}

async function call(path, { method = "GET", body, key = ADMIN } = {}) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// Setup through the API, as an operator would: products, a customer key, a seller key.
// The server is fresh for each run (run.sh), so the names are its own.
const customer = "mina";
await call("/admin/products/tee-white-m", { method: "PUT", body: { name: "White T-shirt (M)", unitPrice: 19000 } });
await call("/admin/products/cap-black", { method: "PUT", body: { name: "Black cap", unitPrice: 12000 } });
const customerKey = (await call("/admin/keys", { method: "POST", body: { role: "customer", customerId: customer, name: "browser test" } })).key;
const sellerKey = (await call("/admin/keys", { method: "POST", body: { role: "seller", name: "browser test seller" } })).key;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

/** A page that records CSP violations and script errors. */
async function open(context, path) {
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`script error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const response = await page.goto(`${BASE}${path}`);
  ok(response.headers()["content-security-policy"]?.includes("script-src 'self'"), `${path} is served with the CSP`);
  return page;
}

async function clean(page, what) {
  const violations = await page.evaluate(() => window.__violations);
  ok(violations.length === 0 && page.problems.length === 0, `${what}: no CSP violation, no script error ${JSON.stringify([...violations, ...page.problems])}`);
}

async function accessible(page, what) {
  // Through the driver, not a script tag: the CSP refuses inline scripts (as it should).
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  ok(bad.length === 0, `${what}: axe-core finds no serious or critical violation ${JSON.stringify(bad.map((v) => [v.id, v.impact, v.nodes.map((n) => n.target)]))}`);
}

async function noFullNumber(page, digits, what) {
  const found = await page.evaluate((digits) => {
    const plain = (s) => (s || "").replace(/[\s-]/g, "");
    const texts = [document.documentElement.outerHTML, ...[...document.querySelectorAll("input")].map((i) => i.value),
      JSON.stringify({ ...sessionStorage }), JSON.stringify({ ...localStorage })];
    return texts.some((s) => plain(s).includes(digits));
  }, digits);
  ok(!found, `${what}: the full number is nowhere in the page or its storage`);
}

// --- The customer's mypage.
const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
const page = await open(desktop, "/app/");
await accessible(page, "sign-in page");
await page.fill("#signin-key", "ptk_thisIsNotAKeyThatPaytreeEverMadeForAnyone1234");
await page.click("#signin button[type=submit]");
await page.waitForFunction(() => document.querySelector("#signin-error").textContent.length > 0);
ok((await page.textContent("#signin-error")).includes("refused"), "a wrong key is refused with a clear message");
await page.fill("#signin-key", sellerKey);
await page.click("#signin button[type=submit]");
await page.waitForFunction(() => document.querySelector("#signin-error").textContent.includes("customer keys"));
ok(true, "a seller key is sent to the shipping desk");

await page.fill("#signin-key", customerKey);
await page.click("#signin button[type=submit]");
await page.waitForSelector("#signed-in:not([hidden])");
ok((await page.textContent("#who")).includes(customer), "signed in as the key's customer");
ok(await page.evaluate(() => sessionStorage.getItem("paytree.key")?.startsWith("ptk_") && !location.href.includes("ptk_")),
  "the key is in the tab's session storage, not in the URL");

// Add a card.
await page.selectOption("#add-kind", "card");
await page.fill("#add-number", "4242 4242 4242 4242");
await page.click("#add-method button[type=submit]");
await page.waitForSelector("#method-list li[data-id] .masked");
ok((await page.textContent("#method-list")).includes("**** **** **** 4242"), "the card is listed, masked");
ok((await page.inputValue("#add-number")) === "", "the number field is empty after submitting");
await noFullNumber(page, "4242424242424242", "after adding a card");

// A 422 field error next to its field.
await page.fill("#add-number", "4242 4242 4242 4241");
await page.click("#add-method button[type=submit]");
await page.waitForFunction(() => document.querySelector("#add-number-error").textContent.length > 0);
ok((await page.getAttribute("#add-number", "aria-invalid")) === "true", "a 422 shows its message next to the number field");
await noFullNumber(page, "4242424242424241", "after a refused number");

// A 402 decline.
await page.fill("#add-number", "4000 0000 0000 0002");
await page.click("#add-method button[type=submit]");
await page.waitForFunction(() => document.querySelector("#add-method-message").textContent.includes("Declined"));
ok(true, "a decline (402) says so");
await noFullNumber(page, "4000000000000002", "after a decline");

// An outage (503 with Retry-After), simulated at the network edge: the page says when to retry.
await page.route("**/paymethods", (route) => route.fulfill({
  status: 503,
  headers: { "Content-Type": "application/problem+json", "Retry-After": "7" },
  body: JSON.stringify({ type: "/problems/payment-unavailable", title: "Payment system unavailable", status: 503 }),
}));
await page.fill("#add-number", "5555 5555 5555 4444");
await page.click("#add-method button[type=submit]");
await page.waitForFunction(() => document.querySelector("#add-method-message").textContent.includes("7 s"));
ok(true, "an outage (503) says when to try again");
await page.unroute("**/paymethods");

// Place an order, then cancel it and watch it become cancelled without a reload.
await page.click("#products li[data-sku=tee-white-m] button");
await page.click("#products li[data-sku=tee-white-m] button");
ok((await page.textContent("#basket-total")).includes("38,000"), "the basket totals ₩38,000");
await page.fill("#addr-name", "Mina Park");
await page.fill("#addr-line1", "1 Jongno");
await page.fill("#addr-city", "Seoul");
await page.fill("#addr-postal", "03154");
await page.click("#order-form button[type=submit]");
await page.waitForFunction(() => document.querySelector("#order-message").textContent.includes("placed"));
const first = await page.getAttribute("#order-list li[data-status=placed]", "data-id");
ok(first, `order #${first} is listed as placed`);
const loads = await page.evaluate(() => performance.getEntriesByType("navigation").length);
await page.click(`#order-list li[data-id="${first}"] button`);
await page.waitForSelector(`#order-list li[data-id="${first}"][data-status=cancelled]`, { timeout: 15000 });
ok(await page.evaluate((n) => performance.getEntriesByType("navigation").length === n, loads), `order #${first} became cancelled without a reload`);
await page.waitForSelector("#notice-list li[data-type=OrderCancelled]", { timeout: 10000 });
ok(true, "the cancellation's notice appears while the page is open");

// A second order, which the seller ships.
await page.click("#products li[data-sku=cap-black] button");
await page.click("#order-form button[type=submit]");
await page.waitForFunction((first) => [...document.querySelectorAll("#order-list li[data-status=placed]")].some((li) => li.dataset.id !== first), first);
const second = await page.evaluate((first) => [...document.querySelectorAll("#order-list li[data-status=placed]")].find((li) => li.dataset.id !== first).dataset.id, first);
await accessible(page, "mypage, signed in");

// --- The seller's desk.
const sellerContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
const desk = await open(sellerContext, "/app/seller");
await accessible(desk, "shipping desk sign-in");
await desk.fill("#signin-key", sellerKey);
await desk.click("#signin button[type=submit]");
await desk.waitForSelector(`#shipment-list li[data-order="${second}"]`, { timeout: 15000 });
ok(!(await desk.$(`#shipment-list li[data-order="${first}"]`)), "the cancelled order's shipment is not pending");
await accessible(desk, "shipping desk, signed in");
if (SHOTS) {
  mkdirSync(SHOTS, { recursive: true });
  await desk.screenshot({ path: join(SHOTS, "seller.png"), fullPage: true });
}
await desk.fill(`#shipment-list li[data-order="${second}"] input[name=carrier]`, "CJ");
await desk.fill(`#shipment-list li[data-order="${second}"] input[name=tracking]`, "6084 1234 5678");
await desk.click(`#shipment-list li[data-order="${second}"] button[type=submit]`);
await desk.waitForSelector(`#shipment-list li[data-order="${second}"]`, { state: "detached", timeout: 10000 });
ok((await desk.textContent("#seller-message")).includes("shipped"), "the seller ships it and it leaves the list");
await clean(desk, "shipping desk");

await page.waitForSelector(`#order-list li[data-id="${second}"][data-status=shipped]`, { timeout: 15000 });
ok(true, `the customer's page shows order #${second} shipped`);

// Korean, and back.
await page.click("#lang");
ok((await page.textContent("#orders-title")) === "주문 내역", "the language switch shows Korean");
await accessible(page, "mypage in Korean");
await page.click("#lang");
ok((await page.textContent("#orders-title")) === "Orders", "and English again");

await clean(page, "mypage");
if (SHOTS) {
  // As a person opening the page sees it: no message of the steps above left on it.
  await page.reload();
  await page.waitForSelector(`#order-list li[data-id="${second}"][data-status=shipped]`);
  await page.screenshot({ path: join(SHOTS, "mypage.png"), fullPage: true });
}

// Change the card's number, then remove it: the first answer to the confirmation (Escape)
// keeps it, the second (Enter on Remove) removes it. Keyboard only.
const card = await page.getAttribute("#method-list li[data-id]", "data-id");
await page.click(`#method-list li[data-id="${card}"] button.quiet`);
await page.keyboard.type("5555 5555 5555 4444");
await page.keyboard.press("Enter");
await page.waitForFunction((id) => document.querySelector(`#method-list li[data-id="${id}"] .masked`)?.textContent.endsWith("4444"), card);
ok(true, "a card's number is changed in place");
await noFullNumber(page, "5555555555554444", "after a change");
// A second card, for the last step.
await page.fill("#add-number", "5105 1051 0510 5100");
await page.click("#add-method button[type=submit]");
await page.waitForFunction(() => document.querySelectorAll("#method-list li[data-id]").length === 2);
const other = await page.evaluate((id) =>
  [...document.querySelectorAll("#method-list li[data-id]")].map((li) => li.dataset.id).find((x) => x !== id), card);
const deletes = [];
page.on("request", (request) => { if (request.method() === "DELETE") deletes.push(request.url()); });
const confirmRemoval = async (id) => {
  await page.focus(`#method-list li[data-id="${id}"] button.danger`);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#confirm[open]");
};
await confirmRemoval(card);
await page.keyboard.press("Escape");
await page.waitForSelector("#confirm", { state: "hidden" });
ok(await page.$(`#method-list li[data-id="${card}"]`), "the confirmation, dismissed, keeps the card");
// The dialog's close event comes a moment after it closes; here the confirmation is opened
// again before that event arrives (as a quick second Enter can): it still takes its own answer.
await confirmRemoval(card);
await page.evaluate((id) => {
  document.getElementById("confirm").close();
  document.querySelector(`#method-list li[data-id="${id}"] button.danger`).click();
}, card);
await page.waitForSelector("#confirm[open]");
await page.focus("#confirm-yes");
await page.keyboard.press("Enter");
await page.waitForSelector(`#method-list li[data-id="${card}"]`, { state: "detached" });
ok(true, "the confirmation, accepted, removes the card (also when opened again at once)");
// After an accepted confirmation, a dismissed one (Escape: no answer of its own) removes nothing.
await confirmRemoval(other);
await page.keyboard.press("Escape");
await page.waitForSelector("#confirm", { state: "hidden" });
await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 300)));
ok(deletes.length === 1 && await page.$(`#method-list li[data-id="${other}"]`),
  `a dismissed confirmation after an accepted one removes nothing (${deletes.length} removals sent)`);
await clean(page, "mypage after a change and a removal");

// A phone-width screen: nothing wider than the screen.
const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, locale: "en-GB" });
const small = await open(phone, "/app/");
await small.evaluate((key) => sessionStorage.setItem("paytree.key", key), customerKey);
await small.reload();
await small.waitForSelector("#order-list li[data-id]");
ok(await small.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "at phone width nothing overflows sideways");
await accessible(small, "mypage at phone width");
await clean(small, "mypage at phone width");

await browser.close();
console.log(`browser tests: ${checks} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
