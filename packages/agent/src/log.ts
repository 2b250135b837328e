/**
 * The agent's log: one line per event on a stream (stderr), as text or as JSON lines.
 */
import type { LogFn } from './server.js';

function text(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

/** A logger writing to `out`; `json` gives `{"at":…,"event":…,…fields}` per line. */
export function createLogger(
  out: { write(s: string): unknown },
  json: boolean,
  now: () => number,
): LogFn {
  return (event, fields) => {
    const at = new Date(now()).toISOString();
    if (json) {
      out.write(`${JSON.stringify({ at, event, ...fields })}\n`);
      return;
    }
    const kv = Object.entries(fields).map(([k, v]) => `${k}=${text(v)}`);
    out.write(`${[at, event, ...kv].join(' ')}\n`);
  };
}
