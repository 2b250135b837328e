/**
 * `HttpApi`: the controller's HTTP server (the one file here that touches the socket). Every
 * `/api/v1` route needs `Authorization: Bearer <token>` with a role at least the route's;
 * `/healthz` answers without a token and says nothing but "ok".
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { TokenInfo } from '@virtvault/lineage';
import { roleAllows } from '@virtvault/lineage';

import { detailOf, type Problem, problem, toProblem } from './problem.js';
import {
  type ApiHandler,
  type FleetBackend,
  type ReportBackend,
  type TokenAdmin,
  apiRoutes,
} from './routes.js';
import { type Route, matchRoute } from './router.js';

/** Checks bearer tokens. */
export interface TokenVerifier {
  /** The token's info when valid now, else null. */
  verify(token: string, now: number): Promise<TokenInfo | null>;
}

/** Options of {@link HttpApi}. */
export interface HttpApiOptions {
  /** `host:port` to listen on (port 0 picks one). */
  listen: string;
  /** The fleet service. */
  fleet: FleetBackend;
  /** The report. */
  report: ReportBackend;
  /** Token verification and management. */
  tokens: TokenVerifier & TokenAdmin;
  /** Epoch ms. */
  now: () => number;
  /** Extra routes (the dashboard, /metrics), matched before the API's. */
  extraRoutes?: Route<RawHandler>[];
  /** One line per request, for the log. */
  log?: (line: string) => void;
  /** The details of a 500 (its answer names only its code). */
  logError?: (line: string) => void;
}

/** A handler that writes the response itself (HTML, metrics text). */
export interface RawHandler {
  /** Serves one request. */
  serve(req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void>;
}

const MAX_BODY = 1 << 20;

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

function sendProblem(res: ServerResponse, p: Problem, headers: Record<string, string> = {}): void {
  send(res, p.status, { error: { code: p.code, message: p.message } }, headers);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) {
      throw problem('PAYLOAD_TOO_LARGE', 'request body over 1 MiB');
    }
    chunks.push(c);
  }
  if (size === 0) {
    return undefined;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    throw problem('BAD_REQUEST', 'the body is not valid JSON');
  }
  if (/\\u0000/i.test(text)) {
    refuseNul(['\0']);
  }
  return body;
}

/**
 * A NUL character in a path, query or body: refused as a bad request. Postgres refuses it in
 * text, which answered a 500 naming the driver's error.
 */
function refuseNul(values: Iterable<string>): void {
  for (const v of values) {
    if (v.includes('\0')) {
      throw problem('BAD_REQUEST', 'a NUL character is not allowed in a request');
    }
  }
}

/** The bearer token of a request, from the header or (for the dashboard) the `vv_token` cookie. */
export function bearerToken(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(h.trim());
    return m?.[1] ?? null;
  }
  return cookieToken(req);
}

/** The dashboard's `vv_token` cookie; null when absent or not percent-decodable. */
function cookieToken(req: IncomingMessage): string | null {
  const m = /(?:^|;\s*)vv_token=([^;]+)/.exec(req.headers.cookie ?? '');
  try {
    return m?.[1] !== undefined ? decodeURIComponent(m[1]) : null;
  } catch {
    return null; // a malformed cookie is no token, not a 500
  }
}

/** Methods that change nothing: the only ones the dashboard's cookie may authenticate. */
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** The controller's HTTP API. `start()` listens; `stop()` closes (idempotent). */
export class HttpApi {
  readonly #o: HttpApiOptions;
  readonly #routes: Route<ApiHandler>[];
  #server: Server | null = null;

  /** @param options see {@link HttpApiOptions} */
  constructor(options: HttpApiOptions) {
    this.#o = options;
    this.#routes = apiRoutes(options.fleet, options.report, options.tokens);
  }

  /** Listens; resolves with the bound address (`host:port`). */
  async start(): Promise<string> {
    const idx = this.#o.listen.lastIndexOf(':');
    const host = this.#o.listen.slice(0, idx) || '127.0.0.1';
    const port = Number(this.#o.listen.slice(idx + 1));
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) {
          sendProblem(res, this.#problem(req, e));
        } else {
          res.destroy();
        }
      });
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host.replace(/^\[|\]$/g, ''), () => resolve());
    });
    this.#server = server;
    const a = server.address() as AddressInfo;
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Stops listening and closes idle connections. */
  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s === null) {
      return;
    }
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeIdleConnections();
      setTimeout(() => s.closeAllConnections(), 2_000).unref();
    });
  }

  /** Authenticates: the principal, or a problem. */
  async #principal(req: IncomingMessage): Promise<TokenInfo> {
    const token = bearerToken(req);
    if (token === null) {
      throw problem('UNAUTHENTICATED', 'a bearer token is required (Authorization: Bearer …)');
    }
    // the cookie rides along with any request a browser sends, forged ones from a page of the
    // same site included: the API's changes need the header, which no other page can set
    if (req.headers.authorization === undefined && !SAFE_METHODS.has(req.method ?? 'GET')) {
      throw problem(
        'UNAUTHENTICATED',
        `${req.method ?? ''} needs the token in the Authorization header (the dashboard's cookie only reads)`,
      );
    }
    const info = await this.#o.tokens.verify(token, this.#o.now());
    if (info === null) {
      throw problem('UNAUTHENTICATED', 'the token is unknown, revoked or expired');
    }
    return info;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = this.#o.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    res.on('finish', () => {
      this.#o.log?.(`${method} ${url.pathname} ${res.statusCode} ${this.#o.now() - started}ms`);
    });
    if (url.pathname === '/healthz') {
      send(res, 200, { status: 'ok' });
      return;
    }
    // every route's path parameters and query (the dashboard's too) reach SQL as text
    refuseNul([
      url.pathname.replace(/%00/g, '\0'),
      ...url.searchParams.keys(),
      ...url.searchParams.values(),
    ]);
    const extra = matchRoute(this.#o.extraRoutes ?? [], method, url.pathname);
    if (extra.kind === 'match') {
      await extra.match.handler.serve(req, res, extra.match.params);
      return;
    }
    const m = matchRoute(this.#routes, method, url.pathname);
    if (m.kind !== 'match') {
      // a path the dashboard or /metrics serves under another method is a 405 too, not a 404
      const allow = [m, extra].flatMap((x) => (x.kind === 'method-not-allowed' ? x.allow : []));
      if (allow.length === 0) {
        sendProblem(res, { status: 404, code: 'NOT_FOUND', message: `no route ${url.pathname}` });
        return;
      }
      const p = { status: 405, code: 'METHOD_NOT_ALLOWED', message: `use ${allow.join(', ')}` };
      sendProblem(res, p, { allow: allow.join(', ') });
      return;
    }
    await this.#dispatch(req, res, m.match.handler, m.match.params, url);
  }

  /** The answer to `e`; a 500's details go to the log. */
  #problem(req: IncomingMessage, e: unknown): Problem {
    const p = toProblem(e);
    if (p.status === 500) {
      this.#o.logError?.(`${method(req)} ${req.url ?? ''}: ${detailOf(e)}`);
    }
    return p;
  }

  async #dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    handler: ApiHandler,
    params: Record<string, string>,
    url: URL,
  ): Promise<void> {
    try {
      const principal = await this.#principal(req);
      if (!roleAllows(principal.role, handler.role)) {
        throw problem(
          'FORBIDDEN',
          `role ${principal.role} may not do this (needs ${handler.role})`,
        );
      }
      const body = method(req) === 'GET' ? undefined : await readBody(req);
      const out = await handler.run({
        params,
        query: url.searchParams,
        body,
        principal,
        now: this.#o.now(),
      });
      send(res, out.status ?? 200, out.body);
    } catch (e) {
      const p = this.#problem(req, e);
      sendProblem(
        res,
        p,
        p.status === 401 ? { 'www-authenticate': 'Bearer realm="virtvault"' } : {},
      );
    }
  }
}

function method(req: IncomingMessage): string {
  return req.method ?? 'GET';
}
