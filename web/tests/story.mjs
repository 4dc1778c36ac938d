// The whole story in a real browser (Debian's Chromium, driven by playwright-core), across
// two relays' consoles and the dApp page: A shares a file with B at a price; B's Inbox
// shows it unpaid; B pays from the dApp page with its own account; B opens it and the
// downloaded bytes are A's; A revokes from Shared; B is refused with the reason; the
// Audit page shows created, paid, key released and revoked. Along the way: a screenshot
// of every page, axe-core on every page (no serious or critical violation), and the size
// of the JavaScript each page loads first.
//
// Environment: DATAMGMT_A_URL, DATAMGMT_A_TOKEN, DATAMGMT_B_URL, DATAMGMT_B_TOKEN (two
// running relays serving the console, B's node account a development account),
// DATAMGMT_SCREENSHOTS (folder), DATAMGMT_WEB_DIST (the build), CHROMIUM (the browser),
// DATAMGMT_TRUSTED_SPKI (the relays' certificates' public key hashes, when they serve
// HTTPS from a local CA).
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { randomBytes, createHash } from "node:crypto";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
};
const A = env("DATAMGMT_A_URL");
const B = env("DATAMGMT_B_URL");
const A_TOKEN = env("DATAMGMT_A_TOKEN");
const B_TOKEN = env("DATAMGMT_B_TOKEN");
const SHOTS = env("DATAMGMT_SCREENSHOTS");
const DIST = env("DATAMGMT_WEB_DIST");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PRICE = "5";
const CHAIN_WAIT = 90_000;

mkdirSync(SHOTS, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const results = { pages: {}, axe: {}, javascript: {} };
const cspViolations = [];
const started = Date.now();
const step = (text) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);

// The relays' certificates (HTTPS from the scripts' local CA), by their public keys.
const TRUSTED = process.env.DATAMGMT_TRUSTED_SPKI;
const tls = TRUSTED ? [`--ignore-certificate-errors-spki-list=${TRUSTED}`] : [];
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage", ...tls] });
const contextA = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
const contextB = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
const a = await contextA.newPage();
const b = await contextB.newPage();
for (const [name, page] of [["A", a], ["B", b]]) {
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (error) => console.log(`${name} page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    console.log(`${name} console: ${message.text()}`);
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(`${name}: ${message.text()}`);
  });
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  results.pages[name] = `${name}.png`;
}

/** axe-core in the page (evaluated, so the page's CSP does not apply to it). */
async function accessibility(page, name) {
  await page.evaluate(axeSource);
  const outcome = await page.evaluate(async () => {
    const run = await window.axe.run(document, { resultTypes: ["violations"] });
    return run.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  results.axe[name] = outcome;
  const serious = outcome.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(serious, [], `${name}: serious accessibility violations`);
}

async function signIn(page, base, token) {
  await page.goto(`${base}/#/inbox`);
  await page.fill("#token", token);
  await page.click("form button[type=submit]");
  await page.waitForSelector('nav a[aria-current="page"]');
}

/** Reloads `url` until `check(page)` holds (the relay's index follows final blocks). */
async function until(page, url, check, what) {
  const deadline = Date.now() + CHAIN_WAIT;
  for (;;) {
    // (A change of the hash alone would not load the page again.)
    if (page.url() === url) await page.reload();
    else await page.goto(url);
    await page.waitForLoadState("networkidle");
    if (await check(page)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(1000);
  }
}

function javascriptSize(html) {
  const text = readFileSync(join(DIST, html), "utf8");
  const files = [...text.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
  let raw = 0;
  let gzip = 0;
  for (const file of new Set(files)) {
    const bytes = readFileSync(join(DIST, file));
    raw += bytes.length;
    gzip += gzipSync(bytes).length;
  }
  return { files: [...new Set(files)], raw, gzip };
}

try {
  results.javascript.console = javascriptSize("index.html");
  results.javascript.dapp = javascriptSize("dapp.html");
  step(`first-load JavaScript: console ${results.javascript.console.gzip} B gzip, dApp ${results.javascript.dapp.gzip} B gzip`);
  assert.ok(results.javascript.console.gzip <= 200 * 1024, "the console's first load is at most 200 KB of compressed JavaScript");

  const { node_id: bNode, account: bAccount } = await (await fetch(`${B}/healthz`)).json();
  step("A signs in and shares a file with B at a price");
  await signIn(a, A, A_TOKEN);
  await shot(a, "01-a-inbox");
  await accessibility(a, "inbox");
  // The directory lists B once its relay's registration is final and indexed.
  await until(a, `${A}/#/share`, async (page) => (await page.$(`#recipient option[value="${bNode}"]`)) !== null, "B in A's directory");
  await shot(a, "02-a-share-form");
  await accessibility(a, "share");
  const content = randomBytes(300 * 1024);
  content.set(Buffer.from("\u0000binary report"), 0);
  const hash = `sha256:${createHash("sha256").update(content).digest("hex")}`;
  await a.setInputFiles("#file", { name: "report.bin", mimeType: "application/octet-stream", buffer: content });
  await a.selectOption("#recipient", bNode);
  await a.fill("#price", PRICE);
  await a.click("text=Encrypt and share");
  await a.waitForSelector('section[aria-label="Receipt"] dl', { timeout: CHAIN_WAIT });
  const receipt = await a.$$eval('section[aria-label="Receipt"] dd code', (codes) => codes.map((c) => c.textContent));
  const shareId = receipt[0];
  assert.match(shareId, /^share_[0-9a-f]{32}$/);
  assert.equal(receipt[1], hash, "the receipt names the hash of the bytes shared");
  await shot(a, "03-a-share-receipt");
  step(`shared ${shareId}`);

  step("B's Inbox shows it, unpaid");
  await signIn(b, B, B_TOKEN);
  const row = `tr[data-share="${shareId}"]`;
  await until(b, `${B}/#/inbox`, async (page) => (await page.$(row)) !== null, "the share in B's Inbox");
  assert.match(await b.textContent(row), /unpaid/);
  assert.match(await b.textContent(row), /active/);
  await shot(b, "04-b-inbox-unpaid");
  await b.setViewportSize({ width: 390, height: 844 });
  await shot(b, "05-b-inbox-phone");
  await b.setViewportSize({ width: 1280, height: 860 });

  step("B pays from the dApp page with its own account, straight on the contract");
  await b.goto(`${B}/dapp.html?share=${shareId}&account=${bAccount}`);
  await b.waitForSelector("text=Connected to", { timeout: CHAIN_WAIT });
  await b.waitForFunction((account) => document.querySelector("#account")?.value === account, bAccount);
  await b.click(`button:has-text("Read")`);
  await b.waitForSelector('[data-testid="decision"] >> text=denied: PaymentRequired');
  await shot(b, "06-b-dapp-payment-required");
  await accessibility(b, "dapp");
  await b.click(`button:has-text("Pay ${PRICE}")`);
  await b.waitForSelector(".notice.ok >> text=Done in block", { timeout: CHAIN_WAIT });
  await b.waitForSelector('[data-testid="decision"] >> text=allowed: PaidRecipient');
  await b.waitForSelector('.events li[data-kind="Paid"]', { timeout: CHAIN_WAIT });
  await shot(b, "07-b-dapp-paid");

  step("B opens it: the bytes downloaded are A's");
  await until(b, `${B}/#/inbox`, async (page) => /paid/.test((await page.textContent(row)) ?? "") && !/unpaid/.test((await page.textContent(row)) ?? ""), "the payment in B's Inbox");
  const [download] = await Promise.all([b.waitForEvent("download", { timeout: CHAIN_WAIT }), b.click(`${row} >> text=Open`)]);
  const saved = join(SHOTS, "downloaded.bin");
  await download.saveAs(saved);
  assert.ok(Buffer.compare(readFileSync(saved), content) === 0, "the downloaded bytes are the bytes A shared");
  await b.waitForSelector(".viewer >> text=verified");
  await shot(b, "08-b-inbox-opened");

  step("A revokes from Shared");
  await until(a, `${A}/#/shared`, async (page) => (await page.$(`${row} >> text=Revoke`)) !== null, "the share in A's Shared");
  await shot(a, "09-a-shared");
  await accessibility(a, "shared");
  a.once("dialog", (dialog) => dialog.accept());
  await a.click(`${row} >> text=Revoke`);
  await a.waitForSelector(".notice.ok >> text=Revoked in block", { timeout: CHAIN_WAIT });
  assert.match(await a.textContent(row), /revoked/);
  await shot(a, "10-a-shared-revoked");

  step("B is refused, with the reason");
  await b.goto(`${B}/#/inbox`);
  await b.click(`${row} >> text=Open`);
  await b.waitForSelector(".viewer >> text=Not opened", { timeout: CHAIN_WAIT });
  const refusal = await b.textContent(".viewer");
  assert.match(refusal, /revoked/i, `the refusal says why: ${refusal}`);
  await shot(b, "11-b-refused");

  step("the Audit page shows created, paid, key released and revoked");
  const kinds = ["created", "paid", "key_released", "revoked"];
  await until(
    a,
    `${A}/#/audit?hash=${encodeURIComponent(hash)}`,
    async (page) => {
      const seen = await page.$$eval("tr[data-kind]", (rows) => rows.map((r) => r.dataset.kind));
      return kinds.every((kind) => seen.includes(kind));
    },
    "every record on the Audit page",
  );
  await shot(a, "12-a-audit");
  await accessibility(a, "audit");
  const [csv] = await Promise.all([a.waitForEvent("download"), a.click("text=Export CSV")]);
  const csvText = readFileSync(await csv.path(), "utf8");
  for (const kind of kinds) assert.match(csvText, new RegExp(`"${kind}","${shareId}"`), `${kind} in the CSV export`);

  step("the Keys page (admin token): rotate the master key, re-wrap every envelope, retire the old key");
  await a.goto(`${A}/#/keys`);
  await a.waitForSelector('[data-testid="older"]');
  await accessibility(a, "keys");
  await a.click('button:has-text("Rotate master key")');
  await a.waitForSelector(".notice.ok >> text=Re-wrap to move");
  assert.ok(Number(await a.textContent('[data-testid="older"]')) >= 1, "A's envelopes are on the old master key");
  await a.click('button:has-text("Re-wrap and retire older")');
  await a.waitForSelector(".notice.ok >> text=Re-wrapped", { timeout: CHAIN_WAIT });
  assert.equal(await a.textContent('[data-testid="older"]'), "0", "every envelope moved to the new master key");
  await shot(a, "13-a-keys-rewrapped");

  assert.deepEqual(cspViolations, [], "no page breaks its Content-Security-Policy");
  results.share = { shareId, hash, bytes: content.length };
  results.seconds = (Date.now() - started) / 1000;
  step("the story holds");
} catch (error) {
  await a.screenshot({ path: join(SHOTS, "failure-a.png"), fullPage: true }).catch(() => {});
  await b.screenshot({ path: join(SHOTS, "failure-b.png"), fullPage: true }).catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  writeFileSync(join(SHOTS, "story.json"), JSON.stringify(results, null, 2));
  const summary = Object.entries(results.axe).map(([page, v]) => `${page}: ${v.length ? v.map((x) => `${x.id} (${x.impact})`).join(", ") : "none"}`);
  console.log(`axe-core violations by page: ${summary.join("; ")}`);
  console.log(`screenshots and results: ${SHOTS}`);
  await browser.close();
}
