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
    case 'break':
      return `<g ${attrs}><path d="M${x} ${y - 24} l7 12 h-14 z" fill="${COLORS.break}"/>${title}<text x="${x + 9}" y="${y - 14}" font-size="11" fill="${COLORS.break}">${esc(e.codes.join(', '))}</text></g>`;
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

/** Runs per host and day as stacked bars (succeeded green, failed or abandoned red). */
export function runsBarsSvg(days: readonly HostDay[]): string {
  if (days.length === 0) {
    return '<p class="mute">No runs in this period.</p>';
  }
  const hosts = [...new Set(days.map((d) => d.host))].sort();
  const dates = [...new Set(days.map((d) => d.day))].sort();
  const max = Math.max(...days.map((d) => d.succeeded + d.failed + d.abandoned), 1);
  const cw = Math.max(Math.min(Math.floor((W - LEFT) / Math.max(dates.length, 1)) - 4, 40), 6);
  const rowH = 60;
  const rows = hosts.map((h, i) => {
    const base = 20 + (i + 1) * rowH;
    const bars = dates.map((day, j) => {
      const d = days.find((r) => r.host === h && r.day === day);
      if (d === undefined) {
        return '';
      }
      const bx = LEFT + j * (cw + 4);
      const okH = Math.round((d.succeeded / max) * (rowH - 14));
      const badH = Math.round(((d.failed + d.abandoned) / max) * (rowH - 14));
      const tip = `<title>${esc(`${h} ${day}: ${d.succeeded} ok, ${d.failed + d.abandoned} failed`)}</title>`;
      return `<g data-host="${esc(h)}" data-day="${esc(day)}"><rect x="${bx}" y="${base - okH}" width="${cw}" height="${okH}" fill="#34a853"/><rect x="${bx}" y="${base - okH - badH}" width="${cw}" height="${badH}" fill="#c5221f"/>${tip}</g>`;
    });
    return `<text x="8" y="${base - 4}" font-size="12" fill="#5f6b7a">${esc(h)}</text><line x1="${LEFT}" y1="${base}" x2="${W - RIGHT}" y2="${base}" stroke="#e2e7ee"/>${bars.join('')}`;
  });
  const height = 30 + hosts.length * rowH;
  const labels = `<text x="${LEFT}" y="14" font-size="11" fill="#5f6b7a">${esc(dates[0] ?? '')}</text><text x="${W - RIGHT}" y="14" font-size="11" fill="#5f6b7a" text-anchor="end">${esc(dates.at(-1) ?? '')}</text>`;
  return `<svg id="runs-chart" viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-label="runs per host and day">${labels}${rows.join('')}</svg>`;
}
