// Drives Hector's GraphiQL page in the distribution's Chromium, with every request that is not
// to Hector refused and reported: the page renders, the docs pane lists `Host`, a query answers
// and a subscription receives an event. Run by tests/it/browser.rs, which starts Hector and
// passes HECTOR_URL and HECTOR_TOKEN. Exits 0 when all of that held, 1 (saying why) otherwise.
import { chromium } from 'playwright-core';

const base = process.env.HECTOR_URL;
const token = process.env.HECTOR_TOKEN;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const origin = new URL(base).origin;
const wsOrigin = origin.replace(/^http/, 'ws');
const problems = [];
const foreign = [];

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage',
  ],
});

async function openPage(query) {
  const context = await browser.newContext();
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + '/') || url.startsWith(wsOrigin + '/')) {
      return route.continue();
    }
    foreign.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  const hash = query ? '#query=' + encodeURIComponent(query) : '';
  await page.goto(`${base}/graphql${hash}`);
  await page.fill('#hector-token', token);
  // The page asks for the schema again once typing has paused (300 ms).
  await page.waitForTimeout(1000);
  await page.waitForSelector('.graphiql-container', { timeout: 20000 });
  return { context, page };
}

async function run(page) {
  await page.click('.graphiql-execute-button');
}

async function responseContains(page, text, timeout = 15000) {
  await page.waitForFunction(
    (t) => (document.querySelector('.graphiql-response')?.textContent || '').includes(t),
    text,
    { timeout },
  );
}

async function mutate(query, variables) {
  const r = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  if (body.errors) throw new Error(`mutation failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

let step = 'start';
let current = null;
try {
  step = 'the docs pane lists Host';
  const docs = await openPage('{ hosts(first: 5) { edges { node { address } } } }');
  current = docs.page;
  await docs.page.click('[aria-label="Show Documentation Explorer"]');
  await docs.page.waitForSelector('.graphiql-doc-explorer', { timeout: 15000 });
  await docs.page
    .locator('.graphiql-doc-explorer')
    .getByText('Host', { exact: true })
    .first()
    .waitFor({ timeout: 15000 });

  step = 'a query answers';
  await run(docs.page);
  await responseContains(docs.page, '192.0.2.1');
  await docs.context.close();

  step = 'a subscription receives an event';
  const live = await openPage('subscription { hostEvents { kind host { address } } }');
  current = live.page;
  await run(live.page);
  // The subscription is live once the socket carries it; give it a moment, then commit.
  await live.page.waitForTimeout(1500);
  await mutate('mutation { createHost(input: {address: "192.0.2.77"}) { host { id } } }');
  await responseContains(live.page, '192.0.2.77');
  await live.context.close();
} catch (e) {
  problems.push(`${step}: ${e.message.split('\n')[0]}`);
  if (current) {
    const shown = await current.evaluate(() => document.body.innerText.slice(0, 2000)).catch(() => '');
    problems.push(`the page showed: ${shown}`);
    if (process.env.SCREENSHOT) await current.screenshot({ path: process.env.SCREENSHOT }).catch(() => {});
  }
}
await browser.close();
if (foreign.length) problems.push(`requests that left Hector: ${foreign.join(', ')}`);
if (problems.length) {
  console.log(JSON.stringify({ ok: false, problems }, null, 2));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true }));
