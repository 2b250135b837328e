/**
 * The controller's HTTP API as the CLI calls it: bearer token, JSON in and out, the API's
 * `{error:{code,message}}` turned into a `CliError` with the same stable code (exit 1). A request
 * the signal (SIGINT, SIGTERM) cut short is `FLEET_INTERRUPTED`.
 */
import { CliError, EXIT_FAILED } from '../output.js';

/** Where and as whom to call. */
export interface FleetTarget {
  /** Base URL, e.g. `http://controller:8080`. */
  controller: string;
  /** Bearer token. */
  token: string;
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** Calls one endpoint; resolves with the parsed JSON body. */
export async function callApi(
  t: FleetTarget,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const url = endpoint(t.controller, path);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${t.token}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      ...(t.signal ? { signal: t.signal } : {}),
    });
  } catch (e) {
    // an abort is ours, not the controller's: saying "unreachable" would send a person looking
    throwIfInterrupted(t.signal, url);
    const why = e instanceof Error && e.cause instanceof Error ? e.cause.message : String(e);
    throw new CliError('CONTROLLER_UNREACHABLE', `cannot reach ${url.origin}: ${why}`, EXIT_FAILED);
  }
  return answer(res, url, t.signal);
}

/** Throws `FLEET_INTERRUPTED` once `signal` is aborted; does nothing otherwise. */
function throwIfInterrupted(signal: AbortSignal | undefined, url: URL): void {
  if (signal?.aborted !== true) {
    return;
  }
  const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  throw new CliError('FLEET_INTERRUPTED', `request to ${url.origin} stopped: ${why}`, EXIT_FAILED);
}

/** The URL of `path` under the controller's base URL. */
function endpoint(controller: string, path: string): URL {
  try {
    return new URL(path, controller.endsWith('/') ? controller : `${controller}/`);
  } catch {
    throw new CliError('USAGE', `--controller ${controller} is not a URL (e.g. http://host:8080)`);
  }
}

/** The answer's JSON body, or its `{error:{code,message}}` as a `CliError`. */
async function answer(
  res: Response,
  url: URL,
  signal: AbortSignal | undefined,
): Promise<Record<string, unknown>> {
  const text = await res.text().catch((e: unknown) => {
    throwIfInterrupted(signal, url);
    throw e;
  });
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CliError(
      'CONTROLLER_BAD_ANSWER',
      `HTTP ${res.status} from ${url.pathname}: ${text.slice(0, 200)}`,
      EXIT_FAILED,
    );
  }
  if (!res.ok) {
    const err = json['error'] as { code?: string; message?: string } | undefined;
    throw new CliError(
      err?.code ?? `HTTP_${res.status}`,
      err?.message ?? `HTTP ${res.status}`,
      EXIT_FAILED,
    );
  }
  return json;
}

/** A column of a table: header and how to read a cell from a row. */
export type Column = [header: string, cell: (row: Record<string, unknown>) => unknown];

/** A cell as text: `-` for nothing, ISO times shortened, arrays joined. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined || v === '') {
    return '-';
  }
  if (Array.isArray(v)) {
    return v.length === 0 ? '-' : v.map(cellText).join(',');
  }
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) {
    return v.replace('T', ' ').replace(/(:\d\d)(\.\d+)?Z$/, '$1Z');
  }
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
    return String(v);
  }
  return JSON.stringify(v) ?? '-';
}

/** The first present field among `keys` (the API's names, with fallbacks). */
export function field(row: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) {
    const path = k.split('.');
    let v: unknown = row;
    for (const p of path) {
      v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[p] : undefined;
    }
    if (v !== undefined) {
      return v;
    }
  }
  return undefined;
}
