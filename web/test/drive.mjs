// drive.mjs: a browser for Go tests, driven with puppeteer-core over a small
// line protocol, so that the same test runs in Firefox (WebDriver BiDi) and
// Chromium (CDP). internal/browsertest (puppet.go) starts it; nothing else
// uses it.
//
//   node test/drive.mjs '{"engine":"firefox","executable":"/usr/bin/firefox-esr",
//                         "profile":DIR,"downloads":DIR,"lang":"de-DE","width":1280,"height":900}'
//
// Then one JSON object a line on stdin, {"id":1,"op":"goto","page":0,...},
// answered by one line on stdout, {"id":1,"value":...} or {"id":1,"error":"..."}.
// Commands run concurrently; the answers carry their ids. EOF on stdin
// closes the browser and ends the script. Diagnostics (the page's console
// and errors; with "trace":true every command and its duration) go to stderr.
//
// puppeteer-core never downloads a browser: the engine's executable is given.

import puppeteer from 'puppeteer-core';
import readline from 'node:readline';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const lang = cfg.lang || 'en-US';
const width = cfg.width || 1280;
const height = cfg.height || 900;

// log writes one line to stderr, after the time of day (HH:MM:SS.mmm, UTC),
// so that a test can tell when the page said something.
function log(...args) {
  process.stderr.write(new Date().toISOString().slice(11, 23) + ' ' + args.join(' ') + '\n');
}

const firefoxPrefs = {
  // The page's language (navigator.languages) and Accept-Language.
  'intl.accept_languages': lang,
  // Downloads go to cfg.downloads without a dialog. puppeteer's download
  // behaviour (below) alone saved nothing in Firefox 153; these two do.
  'browser.download.folderList': 2,
  'browser.download.dir': cfg.downloads || '',
  // Quiet: no first-run pages, updates or telemetry.
  'app.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
};

const launch = {
  browser: cfg.engine === 'chrome' ? 'chrome' : 'firefox',
  protocol: cfg.engine === 'chrome' ? 'cdp' : 'webDriverBiDi',
  executablePath: cfg.executable,
  headless: true,
  userDataDir: cfg.profile,
  defaultViewport: { width, height },
  // The Go side ends us by closing stdin; signals end the browser with us.
  handleSIGINT: true,
  handleSIGTERM: true,
  handleSIGHUP: true,
  // Chromium saves downloads where this says (CDP Browser.setDownloadBehavior).
  downloadBehavior: cfg.downloads ? { policy: 'allow', downloadPath: cfg.downloads } : undefined,
};
if (launch.browser === 'firefox') {
  launch.extraPrefsFirefox = firefoxPrefs;
} else {
  launch.args = [
    '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--lang=${lang}`, `--accept-lang=${lang}`, `--window-size=${width},${height}`,
  ];
  // Screen capture without a picker, of a generated picture (both flags).
  if (cfg.fakeMedia) launch.args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream');
  for (const f of cfg.flags ?? []) launch.args.push(`--${f}`);
}

const browser = await puppeteer.launch(launch);
const pages = [];

async function addPage(page) {
  const id = pages.length;
  pages.push(page);
  page.on('console', (m) => log(`page ${id} console.${m.type()}:`, m.text()));
  page.on('pageerror', (e) => log(`page ${id} error:`, e?.message ?? e));
  // defaultViewport alone leaves Firefox's headless window at 1366×768.
  await page.setViewport({ width, height });
  if (launch.browser === 'chrome') {
    // --lang sets the UI; the page reads navigator.languages from this.
    await page.setExtraHTTPHeaders({ 'Accept-Language': lang });
  }
  return id;
}

const first = (await browser.pages())[0] ?? (await browser.newPage());
await addPage(first);

function page(cmd) {
  const p = pages[cmd.page ?? 0];
  if (!p) throw new Error(`no page ${cmd.page}`);
  return p;
}

// visible waits for sel to be shown and returns its handle.
async function visible(cmd) {
  const h = await page(cmd).waitForSelector(cmd.sel, { visible: true, timeout: cmd.timeout || 30000 });
  if (!h) throw new Error(`${cmd.sel}: not found`);
  return h;
}

const ops = {
  version: async () => browser.version(),
  // tabs lists every tab of the browser, also those the browser opened
  // itself (Firefox shows a downloaded PDF in a new tab).
  tabs: async () => Promise.all((await browser.pages()).map(async (p) => ({
    url: p.url(),
    visibility: await p.evaluate(() => document.visibilityState).catch(() => ''),
  }))),
  newPage: async () => addPage(await browser.newPage()),
  goto: async (c) => {
    await page(c).goto(c.url, { waitUntil: 'load', timeout: c.timeout || 30000 });
    return page(c).url();
  },
  url: async (c) => page(c).url(),
  wait: async (c) => {
    await visible(c);
    return true;
  },
  click: async (c) => {
    await (await visible(c)).click();
    return true;
  },
  type: async (c) => {
    await (await visible(c)).type(c.text);
    return true;
  },
  setValue: async (c) => {
    const h = await visible(c);
    await h.evaluate((e, v) => {
      e.value = v;
      e.dispatchEvent(new Event('input', { bubbles: true }));
    }, c.value);
    return true;
  },
  text: async (c) => (await visible(c)).evaluate((e) => e.textContent),
  value: async (c) => (await visible(c)).evaluate((e) => e.value),
  attr: async (c) => {
    const h = await page(c).waitForSelector(c.sel, { timeout: c.timeout || 30000 });
    return h.evaluate((e, n) => e.getAttribute(n), c.name);
  },
  eval: async (c) => page(c).evaluate(c.js),
  // onNewDocument runs js in every document the page loads from now on,
  // before the document's own scripts (a test's hooks).
  onNewDocument: async (c) => {
    await page(c).evaluateOnNewDocument(c.js);
    return true;
  },
  // until polls (also in a hidden tab, where animation frames stop) until
  // the expression js is truthy.
  until: async (c) => {
    await page(c).waitForFunction(c.js, { polling: 100, timeout: c.timeout || 30000 });
    return true;
  },
  upload: async (c) => {
    const h = await page(c).waitForSelector(c.sel, { timeout: c.timeout || 30000 });
    await h.uploadFile(...c.files);
    return true;
  },
  front: async (c) => {
    await page(c).bringToFront();
    return true;
  },
  press: async (c) => {
    await page(c).keyboard.press(c.key);
    return true;
  },
  screenshot: async (c) => {
    await page(c).screenshot({ path: c.path });
    return true;
  },
};

const rl = readline.createInterface({ input: process.stdin });
const pending = new Set();
rl.on('line', (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    log('bad command line:', line);
    return;
  }
  const t0 = Date.now();
  const run = (async () => {
    const op = ops[cmd.op];
    if (!op) throw new Error(`unknown op ${cmd.op}`);
    return op(cmd);
  })().then(
    (value) => ({ id: cmd.id, value: value ?? null }),
    (err) => ({ id: cmd.id, error: String(err?.message ?? err) }),
  ).then((answer) => {
    if (cfg.trace) log(`${cmd.op} ${cmd.sel ?? cmd.url ?? ''}: ${Date.now() - t0} ms${answer.error ? ' ' + answer.error : ''}`);
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
  pending.add(run);
  run.finally(() => pending.delete(run));
});
rl.on('close', async () => {
  // Nobody waits for answers any more: commands still running (a wait
  // that never holds) end with the browser.
  await Promise.race([Promise.allSettled([...pending]), new Promise((r) => setTimeout(r, 500))]);
  await browser.close().catch((e) => log('close:', e?.message ?? e));
  process.exit(0);
});
process.stdout.write(JSON.stringify({ id: 0, value: await browser.version() }) + '\n');
