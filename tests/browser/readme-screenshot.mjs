// Renders docs/chat-screenshot.png for the README: a desktop (light) and a phone (dark) view of
// a small conversation, side by side. Not a test; run it after changing the page:
//   node tests/browser/readme-screenshot.mjs
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT, joinChat, sleep, startServer, stopServer } from '../integration/lib/server.mjs';

const OUT = join(REPO_ROOT, 'docs', 'chat-screenshot.png');
// Names whose colours (hueFor) are far apart.
const lines = [
  ['hana', 'lobby', 'Good morning! Did anyone try the new build?'],
  ['rin', 'lobby', 'Yes. I restarted the server mid-sentence and nothing was lost or shown twice.'],
  ['mio', 'lobby', 'The phone layout is lovely too.'],
  ['rin', 'dev', 'Deploying at five, shout if that clashes.'],
];

const server = await startServer('chat');
const people = new Map();
try {
  for (const name of ['hana', 'rin', 'mio']) people.set(name, await joinChat(server, '/', { name }));
  await people.get('rin').client.send('{"action":"join","room":"dev"}');
  for (const [name, room, text] of lines) {
    await people.get(name).client.send(JSON.stringify({ action: 'message', room, message: text }));
    await sleep(40);
  }
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const shoot = async (options, name, rooms, actions) => {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    await page.addInitScript(([n, r]) => {
      localStorage.setItem('hibiki.name', JSON.stringify(n));
      localStorage.setItem('hibiki.rooms', JSON.stringify(r));
    }, [name, rooms]);
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#status[data-state="online"]');
    await sleep(300);
    await actions(page);
    return page;
  };
  // The desktop page without the grey margin around its card.
  const desktop = await shoot({ viewport: { width: 1000, height: 700 }, colorScheme: 'light' }, 'yui',
    ['lobby', 'dev', 'random'], async (page) => {
      await page.fill('#input', 'Hi all! Joining from my laptop.');
      await page.press('#input', 'Enter');
      await sleep(150);
      await people.get('hana').client.send('{"action":"message","message":"Welcome, yui!"}');
      await people.get('rin').client.send('{"action":"message","room":"dev","message":"yui, can you review?"}');
      await sleep(300);
    });
  const phone = await shoot({ viewport: { width: 340, height: 652 }, colorScheme: 'dark' }, 'sora',
    ['lobby'], async (page) => {
      await page.fill('#input', 'And hello from my phone!');
      await page.press('#input', 'Enter');
      await sleep(300);
    });
  const pictures = await Promise.all([
    desktop.locator('#app').screenshot(), phone.screenshot(),
  ].map(async (shot) => (await shot).toString('base64')));
  // A flat backdrop: gradients make a PNG several times bigger.
  const frame = await (await browser.newContext({ viewport: { width: 1400, height: 680 } })).newPage();
  await frame.setContent(`<body style="margin:0;height:680px;display:flex;gap:28px;align-items:center;
    justify-content:center;background:#e4e8f2">
    <img src="data:image/png;base64,${pictures[0]}" style="border-radius:14px;box-shadow:0 12px 40px #0002">
    <img src="data:image/png;base64,${pictures[1]}" style="border-radius:26px;box-shadow:0 12px 40px #0003"></body>`);
  await frame.screenshot({ path: OUT });
  await browser.close();
  console.log(`wrote ${OUT}`);
} finally {
  for (const person of people.values()) await person.client.dispose();
  await stopServer(server);
}
