/**
 * Pictures of the dashboard as inline SVG: a VM's chain timeline (one lane per host, fulls,
 * incrementals, breaks, repairs, failures and migrations) and runs per host and day. Pure.
 */
import type { TimelineEntry } from '@virtvault/core';
import type { HostDay } from '@virtvault/lineage';

import { esc, when } from './html.js';

const COLORS = {
  full: '#1f5fbf',
  incremental: '#34a853',
  differential: '#129eaf',
  break: '#c5221f',
  repair: '#e37400',
  failed: '#c5221f',
  migration: '#6b4fbb',
} as const;

const W = 1000;
const LANE = 56;
const LEFT = 90;
const RIGHT = 20;
const TOP = 24;

function mark(e: TimelineEntry, x: number, y: number): string {
  const title = `<title>${esc(`${when(e.at)} · ${e.label}${e.codes.length ? ` [${e.codes.join(', ')}]` : ''}`)}</title>`;
  const attrs = `class="tl-${e.kind}" data-kind="${e.kind}" data-ref="${esc(e.ref)}"`;
  switch (e.kind) {
    case 'full':
    case 'incremental':
    case 'differential': {
      const r = e.kind === 'full' ? 8 : e.kind === 'differential' ? 6.5 : 5;
      return `<circle ${attrs} cx="${x}" cy="${y}" r="${r}" fill="${COLORS[e.kind]}">${title}</circle>`;
    }
    case 'break': {
      // the reason code reads away from the nearer edge so it is never clipped
      const right = x > W / 2;
      const label = `<text x="${right ? x - 10 : x + 10}" y="${y - 14}" font-size="11" fill="${COLORS.break}"${right ? ' text-anchor="end"' : ''}>${esc(e.codes.join(', '))}</text>`;
      return `<g ${attrs}><path d="M${x} ${y - 24} l7 12 h-14 z" fill="${COLORS.break}"/>${title}${label}</g>`;
    }
    case 'repair':
      return `<g ${attrs}><rect x="${x - 5}" y="${y + 12}" width="10" height="10" transform="rotate(45 ${x} ${y + 17})" fill="${COLORS.repair}"/>${title}</g>`;
    case 'failed':
      return `<g ${attrs} stroke="${COLORS.failed}" stroke-width="3"><line x1="${x - 6}" y1="${y - 6}" x2="${x + 6}" y2="${y + 6}"/><line x1="${x - 6}" y1="${y + 6}" x2="${x + 6}" y2="${y - 6}"/>${title}</g>`;
    case 'migration':
      return '';
  }
}

/** The timeline of one VM, hosts as lanes in order of first appearance. */
export function timelineSvg(entries: readonly TimelineEntry[]): string {
  if (entries.length === 0) {
    return '<p class="mute">No snapshots or runs yet.</p>';
  }
  const hosts: string[] = [];
  for (const e of entries) {
    for (const h of e.kind === 'migration' && e.ref ? [e.ref, e.host] : [e.host]) {
      if (!hosts.includes(h)) {
        hosts.push(h);
      }
    }
  }
  const t0 = Math.min(...entries.map((e) => e.at));
  const t1 = Math.max(...entries.map((e) => e.at));
  const span = Math.max(t1 - t0, 1);
  const x = (at: number) => Math.round(LEFT + ((at - t0) / span) * (W - LEFT - RIGHT));
  const y = (h: string) => TOP + 20 + hosts.indexOf(h) * LANE;
  const height = TOP + 20 + hosts.length * LANE;
  const lanes = hosts
    .map(
      (h) =>
        `<line x1="${LEFT}" y1="${y(h)}" x2="${W - RIGHT}" y2="${y(h)}" stroke="#e2e7ee" stroke-width="2"/><text x="8" y="${y(h) + 4}" font-size="12" fill="#5f6b7a">${esc(h)}</text>`,
    )
    .join('');
  const moves = entries
    .filter((e) => e.kind === 'migration')
    .map((e) => {
      const from = e.ref || e.host;
      return `<g class="tl-migration" data-kind="migration" data-ref="${esc(e.ref)}"><line x1="${x(e.at)}" y1="${y(from)}" x2="${x(e.at)}" y2="${y(e.host)}" stroke="${COLORS.migration}" stroke-width="2" stroke-dasharray="4 3" marker-end="url(#arrow)"/><title>${esc(`${when(e.at)} · ${e.label}`)}</title></g>`;
    })
    .join('');
  const marks = entries.map((e) => mark(e, x(e.at), y(e.host))).join('');
  const axis = `<text x="${LEFT}" y="14" font-size="11" fill="#5f6b7a">${esc(when(t0))}</text><text x="${W - RIGHT}" y="14" font-size="11" fill="#5f6b7a" text-anchor="end">${esc(when(t1))}</text>`;
  return `<svg id="timeline" viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-label="chain timeline">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="${COLORS.migration}"/></marker></defs>
${axis}${lanes}${moves}${marks}</svg>`;
}

const DAY = 86_400_000;

/** Every UTC day (`YYYY-MM-DD`) from `since`'s through the later of a week on and the last data. */
function dayAxis(sinceIso: string, days: readonly HostDay[]): string[] {
  const first = Date.parse(`${sinceIso.slice(0, 10)}T00:00:00Z`);
  const lastData = Math.max(first, ...days.map((d) => Date.parse(`${d.day}T00:00:00Z`)));
  const last = Math.max(first + 7 * DAY, lastData);
  const out: string[] = [];
  for (let t = first; t <= last && out.length < 62; t += DAY) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

/**
 * Runs per host and day as stacked bars (succeeded green, failed or abandoned red), one column
 * per calendar day since `sinceIso` so that days without runs show as gaps, not as nothing.
 */
export function runsBarsSvg(days: readonly HostDay[], sinceIso: string): string {
  if (days.length === 0) {
    return '<p class="mute">No runs in this period.</p>';
  }
  const hosts = [...new Set(days.map((d) => d.host))].sort();
  const dates = dayAxis(sinceIso, days);
  const max = Math.max(...days.map((d) => d.succeeded + d.failed + d.abandoned), 1);
  const col = (W - LEFT - RIGHT) / dates.length;
  const cw = Math.max(Math.min(Math.floor(col) - 8, 36), 4);
  const rowH = 64;
  const rows = hosts.map((h, i) => {
    const base = 12 + (i + 1) * rowH;
    const bars = dates.map((day, j) => {
      const d = days.find((r) => r.host === h && r.day === day);
      const done = d === undefined ? 0 : d.succeeded + d.failed + d.abandoned;
      if (d === undefined || done === 0) {
        return '';
      }
      const bx = Math.round(LEFT + j * col + (col - cw) / 2);
      const okH = Math.round((d.succeeded / max) * (rowH - 22));
      const badH = Math.round(((d.failed + d.abandoned) / max) * (rowH - 22));
      const top = base - okH - badH;
      const tip = `<title>${esc(`${h} ${day}: ${d.succeeded} succeeded, ${d.failed + d.abandoned} failed`)}</title>`;
      return `<g data-host="${esc(h)}" data-day="${esc(day)}"><rect x="${bx}" y="${base - okH}" width="${cw}" height="${okH}" fill="#34a853"/><rect x="${bx}" y="${top}" width="${cw}" height="${badH}" fill="#c5221f"/><text x="${bx + cw / 2}" y="${top - 3}" font-size="10" fill="#5f6b7a" text-anchor="middle">${done}</text>${tip}</g>`;
    });
    return `<text x="8" y="${base - 4}" font-size="12" fill="#1d2733">${esc(h)}</text><line x1="${LEFT}" y1="${base}" x2="${W - RIGHT}" y2="${base}" stroke="#e2e7ee"/>${bars.join('')}`;
  });
  const bottom = 12 + hosts.length * rowH;
  // a label per column when they fit, else every few days
  const every = Math.ceil(dates.length / 16);
  const labels = dates
    .map((day, j) =>
      j % every === 0
        ? `<text x="${Math.round(LEFT + j * col + col / 2)}" y="${bottom + 16}" font-size="11" fill="#5f6b7a" text-anchor="middle">${esc(day.slice(5))}</text>`
        : '',
    )
    .join('');
  return `<svg id="runs-chart" viewBox="0 0 ${W} ${bottom + 24}" width="100%" role="img" aria-label="runs per host and day">${rows.join('')}${labels}</svg>`;
}
