// A Chromium page that records everything a clean page never does: requests to other hosts
// (the page must come whole from the server under test: no CDN), uncaught errors, dialogs and
// console errors (tests assert that `problems` stays empty), and what tests read off the page.
const HOST = '127.0.0.1';
// Connection failures while a server is down are Chromium's own noise, not the page's.
const EXPECTED_CONSOLE_NOISE = /WebSocket connection|ERR_CONNECTION_REFUSED/;

/**
 * Opens `url` in a new context of `browser` and waits until the page says it is online.
 * `initScript` (optional) runs in the page before its own scripts. Returns { context, page,
 * problems }.
 */
export async function openGuardedPage(browser, url, { contextOptions, timeout, initScript }) {
  const context = await browser.newContext(contextOptions);
  if (initScript) await context.addInitScript(initScript);
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

/** Waits for the newest message whose bubble text equals `text` and describes it. */
export async function lastMessage(page, text, timeout) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages .msg .bubble')]
    .some((n) => n.textContent === t), text, { timeout });
  return page.evaluate((t) => {
    const bubbles = [...document.querySelectorAll('#messages .msg .bubble')]
      .filter((n) => n.textContent === t);
    const msg = bubbles.at(-1).closest('.msg');
    const list = document.querySelector('#messages').getBoundingClientRect();
    const box = msg.getBoundingClientRect();
    return {
      classes: [...msg.classList].filter((c) => c !== 'cont'),
      id: msg.dataset.id,
      sender: msg.dataset.sender,
      senderLabel: msg.querySelector('.sender')?.textContent,
      hue: msg.style.getPropertyValue('--hue'),
      time: msg.querySelector('.time')?.textContent,
      text: bubbles.at(-1).textContent,
      leftGap: Math.round(box.left - list.left),
      rightGap: Math.round(list.right - box.right),
    };
  }, text);
}
