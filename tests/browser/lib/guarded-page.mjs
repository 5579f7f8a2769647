// A Chromium page that records everything a clean page never does: requests to other hosts
// (the page must come whole from the server under test: no CDN), uncaught errors, dialogs and
// console errors. Tests assert that `problems` stays empty.
const HOST = '127.0.0.1';
// Connection failures while a server is down are Chromium's own noise, not the page's.
const EXPECTED_CONSOLE_NOISE = /WebSocket connection|ERR_CONNECTION_REFUSED/;

/**
 * Opens `url` in a new context of `browser` and waits until the page says it is online.
 * Returns { context, page, problems }.
 */
export async function openGuardedPage(browser, url, { contextOptions, timeout }) {
  const context = await browser.newContext(contextOptions);
  const problems = [];
  await context.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.hostname === HOST) return route.continue();
    problems.push(`off-host request ${target.href}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !EXPECTED_CONSOLE_NOISE.test(msg.text())) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  await page.goto(url, { timeout });
  await page.waitForSelector('#status[data-state="online"]', { timeout });
  return { context, page, problems };
}
