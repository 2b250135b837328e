/**
 * A small pure router: a route table of `METHOD /path/:param` patterns matched against requests.
 * No I/O; the server feeds it method and path and gets the handler with its parameters.
 */

/** A route pattern, e.g. `GET /api/v1/hosts/:name`. */
export interface Route<H> {
  /** HTTP method. */
  method: string;
  /** Path pattern; `:name` segments capture one decoded segment. */
  pattern: string;
  /** What to run. */
  handler: H;
}

/** A match: the route's handler and the captured parameters. */
export interface RouteMatch<H> {
  /** The handler. */
  handler: H;
  /** Captured path parameters. */
  params: Record<string, string>;
}

/** Result of matching: a route, a known path with another method (405), or nothing (404). */
export type MatchResult<H> =
  | { kind: 'match'; match: RouteMatch<H> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

function matchPattern(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) {
    return null;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? '';
    const g = got[i] ?? '';
    if (w.startsWith(':')) {
      if (g === '') {
        return null;
      }
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return null;
      }
    } else if (w !== g) {
      return null;
    }
  }
  return params;
}

/** Matches `method path` (path without query, trailing slash ignored) against the table. */
export function matchRoute<H>(
  routes: readonly Route<H>[],
  method: string,
  path: string,
): MatchResult<H> {
  const clean = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const allow: string[] = [];
  for (const r of routes) {
    const params = matchPattern(r.pattern, clean);
    if (params === null) {
      continue;
    }
    if (r.method === method) {
      return { kind: 'match', match: { handler: r.handler, params } };
    }
    allow.push(r.method);
  }
  return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
}
