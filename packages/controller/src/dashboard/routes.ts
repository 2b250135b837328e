/**
 * The dashboard's and `/metrics`' routes for the HTTP server: sign-in sets an HttpOnly cookie
 * holding the token; every page and `/metrics` need a valid token (cookie or bearer header).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { TokenInfo } from '@virtvault/lineage';

import type { RawHandler, TokenVerifier } from '../http/server.js';
import { bearerToken } from '../http/server.js';
import type { Route } from '../http/router.js';
import type { Reporter } from '../report/reporter.js';

import { page } from './html.js';
import { type VmQuery, VM_SORTS, loginPage, overviewPage, vmPage } from './pages.js';

/** What the dashboard needs. */
export interface DashboardDeps {
  /** The report. */
  reporter: Reporter;
  /** Token checks. */
  tokens: TokenVerifier;
  /** Epoch ms. */
  now: () => number;
}

const WEEK = 7 * 86_400_000;

function html(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'content-security-policy':
      "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'",
    ...headers,
  });
  res.end(body);
}

function redirect(res: ServerResponse, to: string, headers: Record<string, string> = {}): void {
  res.writeHead(303, { location: to, 'cache-control': 'no-store', ...headers });
  res.end();
}

async function formToken(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 8192) {
      return '';
    }
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token')?.trim() ?? '';
}

function vmQuery(url: URL): VmQuery {
  const sort = url.searchParams.get('sort') ?? 'rpo';
  return {
    q: url.searchParams.get('q') ?? '',
    rpo: url.searchParams.get('rpo') ?? '',
    host: url.searchParams.get('host') ?? '',
    sort: (VM_SORTS as readonly string[]).includes(sort) ? (sort as VmQuery['sort']) : 'rpo',
    dir: url.searchParams.get('dir') === 'desc' ? 'desc' : 'asc',
  };
}

/** A page's handler, given the signed-in token. */
type PageHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  p: Record<string, string>,
  w: TokenInfo,
) => Promise<void>;

/** The token of a request (cookie or bearer header), if valid now. */
async function who(d: DashboardDeps, req: IncomingMessage): Promise<TokenInfo | null> {
  const t = bearerToken(req);
  return t === null ? null : d.tokens.verify(t, d.now());
}

/** A handler that sends a request without a valid token to the sign-in page. */
function guarded(d: DashboardDeps, fn: PageHandler): RawHandler {
  return {
    serve: async (req, res, params) => {
      const w = await who(d, req);
      if (w === null) {
        redirect(res, '/login');
        return;
      }
      await fn(req, res, params, w);
    },
  };
}

/** The dashboard routes (matched before the API's). */
export function dashboardRoutes(d: DashboardDeps): Route<RawHandler>[] {
  const route = (method: string, pattern: string, handler: RawHandler) => ({
    method,
    pattern,
    handler,
  });
  return [
    route('GET', '/', { serve: (_q, res) => Promise.resolve(redirect(res, '/ui')) }),
    route('GET', '/login', {
      serve: (_q, res) => Promise.resolve(html(res, 200, loginPage(null))),
    }),
    route('POST', '/login', signIn(d)),
    route('GET', '/logout', {
      serve: (_q, res) =>
        Promise.resolve(
          redirect(res, '/login', {
            'set-cookie': 'vv_token=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0',
          }),
        ),
    }),
    route('GET', '/ui', guarded(d, overview(d))),
    route('GET', '/ui/vms/:vm', guarded(d, vmTimeline(d))),
    route('GET', '/metrics', metrics(d)),
  ];
}

/** `POST /login`: a valid token from the form becomes the session cookie. */
function signIn(d: DashboardDeps): RawHandler {
  return {
    serve: async (req, res) => {
      const token = await formToken(req);
      const info = token === '' ? null : await d.tokens.verify(token, d.now());
      if (info === null) {
        html(res, 401, loginPage('That token is unknown, revoked or expired.'));
        return;
      }
      const cookie = `vv_token=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200`;
      redirect(res, '/ui', { 'set-cookie': cookie });
    },
  };
}

/** `GET /ui`: hosts, the VM table (filtered and sorted by the query), the week's summary. */
function overview(d: DashboardDeps): PageHandler {
  return async (req, res, _p, w) => {
    const url = new URL(req.url ?? '/ui', 'http://localhost');
    const query = vmQuery(url);
    const since = d.now() - WEEK;
    const filter = {
      ...(query.q ? { q: query.q } : {}),
      ...(query.rpo ? { rpo: query.rpo } : {}),
      ...(query.host ? { host: query.host } : {}),
    };
    const [hosts, vms, summary, failures] = await Promise.all([
      d.reporter.hosts(),
      d.reporter.vms(filter),
      d.reporter.summary(since),
      d.reporter.recentFailures(since),
    ]);
    const who = `${w.name} (${w.role})`;
    html(res, 200, overviewPage({ who, hosts, vms, summary, failures, query }));
  };
}

/** `GET /ui/vms/:vm`: one VM's timeline. */
function vmTimeline(d: DashboardDeps): PageHandler {
  return async (_req, res, p, w) => {
    const t = await d.reporter.timeline(p['vm'] ?? '');
    if (t === null) {
      const body = `<h1>No such VM</h1><p><a href="/ui">Back to the overview</a></p>`;
      html(res, 404, page('Not found', body, w.name));
      return;
    }
    html(res, 200, vmPage(`${w.name} (${w.role})`, t));
  };
}

/** `GET /metrics`: Prometheus' text format, behind a bearer token (no redirect). */
function metrics(d: DashboardDeps): RawHandler {
  return {
    serve: async (req, res) => {
      if ((await who(d, req)) === null) {
        res.writeHead(401, {
          'content-type': 'text/plain',
          'www-authenticate': 'Bearer realm="virtvault"',
        });
        res.end('a bearer token is required\n');
        return;
      }
      const text = await d.reporter.metrics();
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'cache-control': 'no-store',
      });
      res.end(text);
    },
  };
}
