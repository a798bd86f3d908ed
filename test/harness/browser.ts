// A real browser for page tests: headless Chromium from Debian's `chromium` package, driven by
// playwright-core through `executablePath` (no browser download: none is reachable here). Each
// session gets a fresh profile directory, removed on close, and records what the page did:
// every request it made (anything not on the page's own origin is aborted and listed in
// `foreign`), console errors and uncaught exceptions.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_BIN = process.env.PODFLOW_CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a quiet browser that talks to nothing but the page under test. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/** Why no browser test can run here, or undefined when one can. */
export function missingBrowser(): string | undefined {
  return existsSync(CHROMIUM_BIN) ? undefined : `needs ${CHROMIUM_BIN} (Debian package chromium: apt-get install chromium)`;
}

export interface BrowserSession {
  page: Page;
  context: BrowserContext;
  /** Every URL the page requested (its own origin and data: URLs included). */
  requests: string[];
  /** Requests to anywhere but the page's origin: aborted, and listed here. */
  foreign: string[];
  /** console.error lines, failed resource loads and uncaught exceptions. */
  errors: string[];
  close(): Promise<void>;
}

export interface OpenPageOptions {
  viewport?: { width: number; height: number };
  /** HTTP basic credentials the browser answers a challenge with. */
  httpCredentials?: { username: string; password: string };
}

/** Launches Chromium with a fresh profile and opens `url` (waits for the load event). */
export async function openPage(url: string, options: OpenPageOptions = {}): Promise<BrowserSession> {
  const profile = mkdtempSync(join(tmpdir(), 'podflow-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_BIN,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: options.viewport ?? { width: 1400, height: 900 },
      ...(options.httpCredentials ? { httpCredentials: options.httpCredentials } : {}),
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const origin = new URL(url).origin;
  const requests: string[] = [];
  const foreign: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', (route) => {
    const target = route.request().url();
    if (target.startsWith('data:') || new URL(target).origin === origin) return route.continue();
    foreign.push(target);
    return route.abort('blockedbyclient');
  });
  context.on('request', (request) => requests.push(request.url()));
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`exception: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A stream the page closes itself (a new query, leaving) is not a failure of the page.
    const failure = request.failure()?.errorText ?? '';
    if (!/ERR_ABORTED/.test(failure) || !request.url().includes('/stream')) errors.push(`request failed: ${request.url()} ${failure}`);
  });
  await page.goto(url, { waitUntil: 'load' });
  return {
    page,
    context,
    requests,
    foreign,
    errors,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
