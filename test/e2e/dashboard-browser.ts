/**
 * A browser check of the controller's dashboard, shared by the controller's integration test
 * (seeded lineage) and the fleet end-to-end test (real agents): headless Debian Chromium driven
 * through playwright-core signs in with a token, checks the fleet overview, filters and sorts the
 * VM table, opens a VM's chain timeline, and saves full-page screenshots as test artifacts.
 * Assertions are on what a user sees (cards, rows, SVG marks), never on timings.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { type Browser, type Page, chromium } from 'playwright-core';

/** RPO states of the dashboard. */
export type RpoState = 'ok' | 'at-risk' | 'violated' | 'never';

/** Agent states of a host card. */
export type HostCardState = 'up' | 'down' | 'unknown';

/** Sortable columns of the VM table (`a[data-sort]`). */
export type VmSortColumn = 'name' | 'host' | 'rpo' | 'age' | 'chain' | 'last';

/** Kinds of timeline marks (`svg#timeline [data-kind]`). */
export type TimelineMarkKind =
  'full' | 'incremental' | 'differential' | 'break' | 'repair' | 'failed' | 'migration';

/** What the dashboard must show for a scenario. */
export interface DashboardExpect {
  /** Exactly these host cards, each with its agent state. */
  hosts: Readonly<Record<string, HostCardState>>;
  /** The protection counts. */
  protection: Readonly<Record<RpoState, number>>;
  /** A filter to apply to the VM table and the VM names that must remain (any order). */
  filter: { q: string; rpo?: RpoState; host?: string; rows: readonly string[] };
  /** A column to sort the unfiltered table by, and its VM names top to bottom in ascending order. */
  sort: { column: VmSortColumn; ascending: readonly string[] };
  /** A VM to open from the table and the marks its timeline must have. */
  vm: {
    /** VM name (its row's `data-vm`). */
    name: string;
    /** At least this many marks of each kind. */
    minMarks: Readonly<Partial<Record<TimelineMarkKind, number>>>;
    /** Reason codes some break mark must name. */
    breakCodes: readonly string[];
  };
}

/** Options of {@link checkDashboard}. */
export interface DashboardCheck {
  /** `http://host:port` of the controller's HTTP server. */
  baseUrl: string;
  /** A valid API token (any role). */
  token: string;
  /** Directory for the screenshots (created). */
  artifactsDir: string;
  /** What to expect. */
  expect: DashboardExpect;
  /** Chromium binary. @default process.env.VV_CHROMIUM ?? '/usr/bin/chromium' */
  executablePath?: string;
}

/** What {@link checkDashboard} saw. */
export interface DashboardCheckResult {
  /** Screenshot paths: overview, filtered table, VM page. */
  screenshots: { overview: string; filtered: string; vm: string };
  /** Console errors and page errors (CSP violations, failed loads); the check fails on any. */
  consoleErrors: string[];
}

/** Text contents, or one attribute, of every element matching `selector`, in page order. */
async function texts(page: Page, selector: string, attr?: string): Promise<string[]> {
  const all = page.locator(selector);
  if (attr === undefined) {
    return all.allTextContents();
  }
  const out: string[] = [];
  for (const el of await all.all()) {
    out.push((await el.getAttribute(attr)) ?? '');
  }
  return out;
}

async function noHorizontalOverflow(page: Page, what: string): Promise<void> {
  // a string expression: this package compiles without the DOM lib
  const { scroll, client } = await page.evaluate<{ scroll: number; client: number }>(
    '({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })',
  );
  assert.ok(scroll <= client, `${what} overflows sideways (${scroll} > ${client} px)`);
}

/** The refused sign-in, on its own page: Chromium logs its 401 as a console error. */
async function checkRefusedSignIn(page: Page, base: string): Promise<void> {
  // without a cookie every page sends the browser to the sign-in form
  await page.goto(`${base}/ui`);
  assert.equal(new URL(page.url()).pathname, '/login', '/ui without a cookie redirects to /login');
  await page.fill('#token', 'vvt_not-a-real-token');
  await page.click('#sign-in');
  await page.locator('#login-error').waitFor();
  assert.match((await page.textContent('#login-error')) ?? '', /unknown, revoked or expired/);
  await page.close();
}

async function checkSignIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/login`);
  assert.equal(await page.locator('#login-error').count(), 0, 'no error before a try');
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(`${base}/ui`), page.click('#sign-in')]);
}

async function checkOverview(page: Page, e: DashboardExpect): Promise<void> {
  const hostNames = await texts(page, '#hosts .card[data-host]', 'data-host');
  assert.deepEqual([...hostNames].sort(), Object.keys(e.hosts).sort(), 'host cards');
  for (const [name, state] of Object.entries(e.hosts)) {
    const badge = await page.textContent(`#hosts .card[data-host="${name}"] .badge`);
    assert.equal(badge?.trim(), state, `state of host ${name}`);
  }
  for (const [rpo, n] of Object.entries(e.protection)) {
    const stat = await page.textContent(`#protection .card[data-rpo="${rpo}"] .stat`);
    assert.equal(Number(stat?.trim()), n, `protection count ${rpo}`);
  }
  assert.equal(await page.locator('svg#runs-chart').count(), 1, 'the runs chart is drawn');
  for (const id of ['#failures', '#breaks-table', '#repos-table']) {
    assert.equal(await page.locator(id).count(), 1, `${id} is on the page`);
  }
  await noHorizontalOverflow(page, 'the overview');
}

async function checkFilter(page: Page, base: string, f: DashboardExpect['filter']): Promise<void> {
  await page.fill('#vm-q', f.q);
  await page.selectOption('#vm-rpo', f.rpo ?? '');
  await page.selectOption('#vm-host', f.host ?? '');
  await Promise.all([page.waitForURL((u) => u.searchParams.has('q')), page.click('#vm-apply')]);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('q'), f.q, 'the filter is in the query string');
  const rows = await texts(page, '#vm-table tr[data-vm]', 'data-vm');
  assert.deepEqual([...rows].sort(), [...f.rows].sort(), 'rows left by the filter');
  if (f.rpo !== undefined) {
    const states = await texts(page, '#vm-table tr[data-vm]', 'data-rpo');
    assert.ok(
      states.every((s) => s === f.rpo),
      `every row is ${f.rpo}: ${states.join(',')}`,
    );
  }
  assert.equal(await page.inputValue('#vm-q'), f.q, 'the form keeps the filter');
  const count = (await page.textContent('#vm-filter .count')) ?? '';
  assert.match(
    count,
    new RegExp(`^${f.rows.length} of \\d+ VMs$`),
    'the filter says how many match',
  );
}

async function checkSort(page: Page, base: string, s: DashboardExpect['sort']): Promise<void> {
  await page.goto(`${base}/ui`);
  const header = page.locator(`#vm-table a[data-sort="${s.column}"]`);
  // the first click may sort descending when the column is the current sort: follow the link's
  // own direction, then click again for the other one
  for (let click = 0; click < 2; click++) {
    const target = new URL((await header.getAttribute('href')) ?? '', base);
    await Promise.all([page.waitForURL((u) => u.search === target.search), header.click()]);
    const dir = target.searchParams.get('dir');
    const rows = await texts(page, '#vm-table tr[data-vm]', 'data-vm');
    const want = dir === 'desc' ? [...s.ascending].reverse() : [...s.ascending];
    assert.deepEqual(rows, want, `VM table sorted by ${s.column} ${dir ?? ''}`);
    assert.match(
      (await header.textContent()) ?? '',
      dir === 'desc' ? /▼/ : /▲/,
      'the header shows the direction',
    );
  }
}

async function checkVmPage(page: Page, v: DashboardExpect['vm']): Promise<void> {
  const link = page.locator(`#vm-table tr[data-vm="${v.name}"] a`).first();
  await Promise.all([page.waitForURL('**/ui/vms/**'), link.click()]);
  assert.equal((await page.textContent('h1'))?.includes(v.name), true, 'the VM page names the VM');
  const kinds = await texts(page, 'svg#timeline [data-kind]', 'data-kind');
  for (const [kind, min] of Object.entries(v.minMarks)) {
    const n = kinds.filter((k) => k === kind).length;
    assert.ok(n >= (min ?? 0), `timeline has ${n} ${kind} marks, expected at least ${min ?? 0}`);
  }
  const breakTexts = await texts(page, 'svg#timeline [data-kind="break"] text');
  for (const code of v.breakCodes) {
    assert.ok(
      breakTexts.some((t) => t.includes(code)),
      `a break mark names ${code}: ${JSON.stringify(breakTexts)}`,
    );
  }
  const events = await texts(page, '#events-table tbody tr', 'data-kind');
  assert.equal(events.length, kinds.length, 'one events row per timeline mark');
  await noHorizontalOverflow(page, 'the VM page');
}

/**
 * Runs the whole check in a fresh headless Chromium and returns the screenshots it saved.
 * Throws an `AssertionError` at the first thing that differs from `expect`.
 */
export async function checkDashboard(o: DashboardCheck): Promise<DashboardCheckResult> {
  await mkdir(o.artifactsDir, { recursive: true });
  const base = o.baseUrl.replace(/\/$/, '');
  const shots = {
    overview: join(o.artifactsDir, 'overview.png'),
    filtered: join(o.artifactsDir, 'vm-table-filtered.png'),
    vm: join(o.artifactsDir, `vm-${o.expect.vm.name}.png`),
  };
  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({
      executablePath: o.executablePath ?? process.env['VV_CHROMIUM'] ?? '/usr/bin/chromium',
      headless: true,
      // tests run as root, where Chromium's sandbox refuses to start
      args: ['--no-sandbox'],
    });
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    context.setDefaultTimeout(20_000);
    await checkRefusedSignIn(await context.newPage(), base);
    assert.equal((await context.cookies()).length, 0, 'a refused sign-in sets no cookie');
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') {
        consoleErrors.push(m.text());
      }
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));

    await checkSignIn(page, base, o.token);
    const cookie = (await context.cookies()).find((c) => c.name === 'vv_token');
    assert.equal(cookie?.httpOnly, true, 'the session cookie is HttpOnly');
    await checkOverview(page, o.expect);
    await page.screenshot({ path: shots.overview, fullPage: true });
    await checkFilter(page, base, o.expect.filter);
    await page.screenshot({ path: shots.filtered, fullPage: true });
    await checkSort(page, base, o.expect.sort);
    await checkVmPage(page, o.expect.vm);
    await page.screenshot({ path: shots.vm, fullPage: true });
    assert.deepEqual(consoleErrors, [], 'no console errors (CSP violations, failed loads)');
    return { screenshots: shots, consoleErrors };
  } finally {
    await browser?.close();
  }
}
