// Shared pieces of the browser tests: launching Debian's Chromium through
// playwright-core, polling assertions that report what the page showed,
// screenshots, and a small REST client for seeding.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const BASE = (process.env.BEAVER_GATEWAY_URL || 'http://127.0.0.1:21080').replace(/\/$/, '');
export const SHOTS = process.env.BEAVER_SCREENSHOT_DIR || path.join(ROOT, 'target', 'browser-screenshots');

// This machine's closed network refuses Chromium's background connections;
// these flags keep it from trying.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * BEAVER_WEB_DIR=<folder>: serve the client's files from that folder instead
 * of the gateway's (the API and /ws still go to the gateway). Used to check
 * that the tests fail against a deliberately broken copy of deploy/web.
 */
export async function serveClientFrom(context, dir) {
  const { readFile } = await import('node:fs/promises');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  const serve = async (route, file) => {
    try {
      const body = await readFile(path.join(dir, file));
      await route.fulfill({ status: 200, body, headers: { 'content-type': types[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-cache' } });
    } catch {
      await route.fulfill({ status: 404, body: '{}', headers: { 'content-type': 'application/json' } });
    }
  };
  await context.route(`${BASE}/`, (route) => serve(route, 'index.html'));
  await context.route(`${BASE}/web/**`, (route) => serve(route, new URL(route.request().url()).pathname.replace(/^\/web\//, '')));
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.BEAVER_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // a page fulfilled by the test (BEAVER_WEB_DIR) has no address, so
    // Chromium would count its WebSocket to the loopback gateway as a
    // public-to-local request and block it
    args: process.env.BEAVER_WEB_DIR ? [...CHROMIUM_ARGS, '--disable-features=LocalNetworkAccessChecks'] : CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/** Unique per run: usernames are 3–32 of a-z 0-9 _. */
export const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`.slice(-9);

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/**
 * Poll until check() stops throwing (or returns without throwing), at most
 * `timeout` ms; then rethrow its last error with `what` in front.
 */
export async function eventually(what, check, timeout = 10_000, every = 100) {
  const until = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) {
      const err = new assert.AssertionError({ message: `${what} (after ${timeout} ms): ${last && last.message}` });
      throw err;
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

/** The locator's text, eventually matching `expected` (a string it contains, or a RegExp). */
export async function expectText(locator, expected, what, timeout = 10_000) {
  return eventually(
    what || `text ${expected}`,
    async () => {
      const n = await locator.count();
      assert.ok(n > 0, `nothing matches ${locator}`);
      const texts = await locator.allInnerTexts();
      const text = texts.join(' | ');
      if (expected instanceof RegExp) assert.match(text, expected);
      else assert.ok(text.includes(expected), `"${text}" does not contain "${expected}"`);
      return text;
    },
    timeout,
  );
}

export async function expectCount(locator, n, what, timeout = 10_000) {
  return eventually(what || `count ${n}`, async () => assert.equal(await locator.count(), n), timeout);
}

export async function expectVisible(locator, what, timeout = 10_000) {
  return eventually(what || 'visible', async () => assert.ok(await locator.first().isVisible(), `${locator} is not visible`), timeout);
}

export async function expectHidden(locator, what, timeout = 10_000) {
  return eventually(
    what || 'hidden',
    async () => {
      const n = await locator.count();
      for (let i = 0; i < n; i += 1) assert.ok(!(await locator.nth(i).isVisible()), `${locator} is still visible`);
    },
    timeout,
  );
}

/** A REST call in the envelope; resolves with `data`, throws on a non-2xx. */
export async function api(method, p, { token, body } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(BASE + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const env = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(env)}`);
  return env.data;
}

/** A 1-colour PNG of w x h (no image library needed). */
export async function png(w, h, [r, g, b]) {
  const { deflateSync, crc32 } = await import('node:zlib');
  const crc = crc32 || ((buf) => crcTable(buf));
  const row = Buffer.alloc(1 + w * 3);
  for (let x = 0; x < w; x += 1) row.set([r, g, b], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td) >>> 0);
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function crcTable(buf) {
  let c;
  let crc = 0xffffffff;
  for (let n = 0; n < buf.length; n += 1) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
