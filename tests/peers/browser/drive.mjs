// Drives Debian's headless Chromium (/usr/bin/chromium, or $CHROMIUM) for Gatehouse's browser
// tests, with playwright-core (which never downloads a browser). An HTTP server on
// 127.0.0.1:<argv[2]> takes one JSON command per POST and answers JSON; it prints
// `READY` when the browser is up and exits when its stdin closes (the test process ended).
//
// Commands (`op`): context {width,height} -> {id} (a fresh profile: its own cookies);
// page {context} -> {id} (a tab); goto {page,url} -> {status,url}; click {page,selector}
// (waits for the navigation it causes) -> {url}; fill {page,selector,value}; state {page}
// -> {url,title,text,html,console}; evaluate {page,expression} -> {value}; press {page,key};
// screenshot {page,path}; close {context}.
import http from 'node:http';
import { chromium } from 'playwright-core';

const port = Number(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-dev-shm-usage', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const contexts = new Map();
const pages = new Map();
let next = 1;

const ops = {
  async context({ width = 1280, height = 800 }) {
    const context = await browser.newContext({ viewport: { width, height } });
    const id = next++;
    contexts.set(id, context);
    return { id };
  },
  async page({ context }) {
    const page = await contexts.get(context).newPage();
    // Console errors include Content-Security-Policy violations: a test can assert none.
    page.consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') page.consoleErrors.push(m.text()); });
    const id = next++;
    pages.set(id, page);
    return { id };
  },
  async goto({ page, url }) {
    const p = pages.get(page);
    const response = await p.goto(url, { waitUntil: 'load' });
    return { status: response ? response.status() : 0, url: p.url() };
  },
  async click({ page, selector }) {
    const p = pages.get(page);
    await Promise.all([p.waitForNavigation({ waitUntil: 'load', timeout: 15000 }), p.click(selector)]);
    return { url: p.url() };
  },
  async fill({ page, selector, value }) {
    await pages.get(page).fill(selector, value);
    return {};
  },
  async state({ page }) {
    const p = pages.get(page);
    return {
      url: p.url(),
      title: await p.title(),
      text: await p.innerText('body').catch(() => ''),
      html: await p.content(),
      console: p.consoleErrors,
    };
  },
  async evaluate({ page, expression }) {
    return { value: await pages.get(page).evaluate(expression) };
  },
  async press({ page, key }) {
    await pages.get(page).keyboard.press(key);
    return {};
  },
  async screenshot({ page, path }) {
    await pages.get(page).screenshot({ path, fullPage: true });
    return {};
  },
  async close({ context }) {
    await contexts.get(context).close();
    contexts.delete(context);
    return {};
  },
};

http.createServer(async (req, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  try {
    const command = JSON.parse(body);
    const op = ops[command.op];
    if (!op) throw new Error(`unknown op ${command.op}`);
    const out = await op(command);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  } catch (e) {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: String((e && e.stack) || e) }));
  }
}).listen(port, '127.0.0.1', () => console.log('READY'));

process.stdin.on('end', async () => {
  await browser.close().catch(() => {});
  process.exit(0);
});
process.stdin.resume();
