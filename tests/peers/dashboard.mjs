// Drives the rampart dashboard in headless Chromium (Playwright) for
// crates/rampart-server/tests/http/dashboard.rs: loads the page, answers the token prompt, waits
// for data, prints every displayed figure (by data-testid) and the size of every chart's canvas
// (and the time span its x axis draws) and the state of every button as JSON on stdout, saves a
// screenshot, then pauses a rollout through its button and reason
// prompt and reports what the page shows afterwards.
//
// Environment: DASHBOARD_URL, DASHBOARD_TOKEN, DASHBOARD_ROLLOUT, DASHBOARD_REASON,
// DASHBOARD_SCREENSHOT (PNG path), CHROMIUM (executable), CHROMIUM_PROFILE (a fresh user-data
// dir); optional DASHBOARD_DOCS_SCREENSHOT (a viewport-sized PNG for the docs).

import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env("DASHBOARD_URL");
const token = env("DASHBOARD_TOKEN");
const rollout = env("DASHBOARD_ROLLOUT");
const reason = env("DASHBOARD_REASON");
const screenshot = env("DASHBOARD_SCREENSHOT");
const docsScreenshot = process.env.DASHBOARD_DOCS_SCREENSHOT;
const TIMEOUT = 20_000;

const context = await chromium.launchPersistentContext(env("CHROMIUM_PROFILE"), {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1360, height: 900 },
});

try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  // The browser logs every non-2xx response as a console error; those are kept apart, so the
  // expected 401 of the first API call is not mistaken for a fault of the page.
  const consoleErrors = [];
  const networkErrors = [];
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    (m.text().startsWith("Failed to load resource") ? networkErrors : consoleErrors).push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  await page.goto(url);

  // The first API call answers 401: the page asks for a token, once.
  let tokenPrompts = 0;
  const input = page.getByTestId("token-input");
  await input.waitFor({ state: "visible" });
  tokenPrompts += 1;
  await input.fill(token);
  await page.getByTestId("token-submit").click();

  // Data: a gate verdict from the controller's look, experiment lifts, interleaving wins.
  await page.waitForFunction((name) => {
    const text = (id) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
    return Number(document.body.dataset.refreshes || 0) >= 1
      && ["Pass", "Fail", "Inconclusive"].includes(text(`gate-${name}-conversion-verdict`))
      && document.querySelectorAll('[data-testid$="-lift"]').length > 0
      && document.querySelectorAll('[data-testid^="interleave-"][data-testid$="-wins"]').length > 0
      && document.querySelectorAll('[data-testid^="chart-"] canvas').length >= 4;
  }, rollout);
  // Still one prompt after a second refresh.
  await page.waitForFunction(() => Number(document.body.dataset.refreshes || 0) >= 2);
  if (await page.getByTestId("token-dialog").isVisible()) tokenPrompts += 1;

  const numbers = await page.evaluate(() => {
    const out = {};
    for (const el of document.querySelectorAll("[data-testid]")) {
      const id = el.dataset.testid;
      if (id.startsWith("chart-")) continue;
      out[id] = el.textContent.trim();
    }
    return out;
  });
  const charts = await page.evaluate(() =>
    [...document.querySelectorAll('[data-testid^="chart-"]')].map((el) => {
      const canvas = el.querySelector("canvas");
      const box = canvas?.getBoundingClientRect();
      return {
        testid: el.dataset.testid,
        width: box?.width ?? 0,
        height: box?.height ?? 0,
        empty: el.querySelector(".chart-empty")?.textContent ?? null,
        // The span of the time axis as uPlot drew it (Unix seconds).
        x_min: el.dataset.axisMin == null ? null : Number(el.dataset.axisMin),
        x_max: el.dataset.axisMax == null ? null : Number(el.dataset.axisMax),
      };
    }));
  // Every operator button: whether it is disabled, its hint and how it is painted.
  const buttons = await page.evaluate(() => {
    const out = {};
    for (const b of document.querySelectorAll("button[data-testid]")) {
      const style = getComputedStyle(b);
      out[b.dataset.testid] = { disabled: b.disabled, title: b.title, background: style.backgroundColor, color: style.color };
    }
    return out;
  });

  await page.screenshot({ path: screenshot, fullPage: true });

  // Pause the rollout through its button and reason prompt.
  await page.getByTestId(`rollout-${rollout}-pause`).click();
  await page.getByTestId("reason-input").fill(reason);
  await page.getByTestId("reason-confirm").click();
  const notice = page.getByTestId("action-result");
  await notice.waitFor({ state: "visible" });
  await page.waitForFunction((name) =>
    document.querySelector(`[data-testid="rollout-${name}-status"]`)?.textContent === "Paused", rollout);
  await page.waitForFunction((r) =>
    document.querySelector('[data-testid="decisions"] tbody tr')?.textContent.includes(r), reason);
  // For the docs: the top of the page, with the pause in the decision log below the fold.
  if (docsScreenshot) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: docsScreenshot });
  }
  const afterPause = {
    status: await page.getByTestId(`rollout-${rollout}-status`).textContent(),
    notice: await notice.textContent(),
    newest_decision: await page.locator('[data-testid="decisions"] tbody tr').first().textContent(),
  };

  process.stdout.write(JSON.stringify({
    numbers, charts, buttons, token_prompts: tokenPrompts, console_errors: consoleErrors, network_errors: networkErrors, after_pause: afterPause,
  }));
} finally {
  await context.close();
}
