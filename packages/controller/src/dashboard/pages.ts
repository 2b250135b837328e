/**
 * The dashboard's pages as HTML strings: sign-in, the fleet overview (hosts, protection, runs
 * chart, VM table with RPO badges that sorts and filters through the query string, recent
 * failures) and a VM's chain timeline. Pure.
 */
import { explainReason, isReasonCode } from '@virtvault/core';
import type { FinishedRun, HostStatus } from '@virtvault/lineage';

import type { FleetSummary, VmReport } from '../report/figures.js';
import type { VmTimeline } from '../report/reporter.js';

import { age, badge, bytes, esc, page, when } from './html.js';
import { runsBarsSvg, timelineSvg } from './svg.js';

/** The sign-in page. */
export function loginPage(error: string | null): string {
  return page(
    'Sign in',
    `<div class="card login"><h1>Sign in</h1>
<p class="mute">Paste an API token (any role). Create one with <span class="mono">virtvault fleet tokens create</span>.</p>
${error ? `<p class="err" id="login-error">${esc(error)}</p>` : ''}
<form method="post" action="/login"><label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required placeholder="vvt_…">
<button type="submit" id="sign-in">Sign in</button></form></div>`,
  );
}

/** Sort keys of the VM table. */
export const VM_SORTS = ['name', 'host', 'rpo', 'age', 'chain', 'last'] as const;

/** The VM table's query: filters and sort. */
export interface VmQuery {
  /** Text filter. */
  q: string;
  /** RPO status filter. */
  rpo: string;
  /** Host filter. */
  host: string;
  /** Sort key. */
  sort: (typeof VM_SORTS)[number];
  /** Direction. */
  dir: 'asc' | 'desc';
}

const RPO_ORDER: Record<string, number> = { never: 0, violated: 1, 'at-risk': 2, ok: 3 };

/** Sorts VMs as the table asks. */
export function sortVms(
  vms: readonly VmReport[],
  sort: VmQuery['sort'],
  dir: VmQuery['dir'],
): VmReport[] {
  const key = (v: VmReport): string | number => {
    switch (sort) {
      case 'host':
        return v.currentHost ?? '';
      case 'rpo':
        return RPO_ORDER[v.rpo] ?? 9;
      case 'age':
        return v.ageSeconds ?? Number.MAX_SAFE_INTEGER;
      case 'chain':
        return v.chainLength;
      case 'last':
        return v.lastRun?.startedAt ?? 0;
      default:
        return v.name.toLowerCase();
    }
  };
  const sign = dir === 'desc' ? -1 : 1;
  return [...vms].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return (ka < kb ? -1 : ka > kb ? 1 : a.name.localeCompare(b.name)) * sign;
  });
}

function hostCards(hosts: readonly HostStatus[]): string {
  if (hosts.length === 0) {
    return '<p class="mute">No hosts yet: <span class="mono">virtvault fleet hosts add NAME ADDRESS</span>.</p>';
  }
  const cards = hosts.map(
    (
      h,
    ) => `<div class="card host" data-host="${esc(h.name)}"><div style="display:flex;justify-content:space-between"><strong>${esc(h.name)}</strong>${badge(h.state)}</div>
<div class="stat">${h.vms} <small>VMs</small> · ${h.running} <small>running</small></div>
<div class="mute">agent ${esc(h.agentVersion ?? '?')} · ${esc(h.address ?? '')}</div>
<div class="mute">last contact ${esc(when(h.lastContactAt))}</div>${h.lastError ? `<div class="err">${esc(h.lastError)}</div>` : ''}</div>`,
  );
  return `<div class="grid" id="hosts">${cards.join('')}</div>`;
}

function protectionCards(s: FleetSummary): string {
  const p = s.protection;
  const card = (kind: string, n: number, label: string) =>
    `<div class="card" data-rpo="${kind}"><div class="stat">${n}</div>${badge(kind, label)}</div>`;
  return `<div class="grid fit" id="protection">${card('ok', p.ok, 'protected')}${card('at-risk', p['at-risk'], 'at risk')}${card('violated', p.violated, 'RPO violated')}${card('never', p.never, 'never backed up')}</div>`;
}

function sortLink(q: VmQuery, key: VmQuery['sort'], label: string): string {
  const dir = q.sort === key && q.dir === 'asc' ? 'desc' : 'asc';
  const params = new URLSearchParams({ q: q.q, rpo: q.rpo, host: q.host, sort: key, dir });
  const arrow = q.sort === key ? (q.dir === 'asc' ? ' ▲' : ' ▼') : '';
  return `<a href="/ui?${esc(params.toString())}#vms" data-sort="${key}">${esc(label)}${arrow}</a>`;
}

function vmTable(
  vms: readonly VmReport[],
  total: number,
  q: VmQuery,
  hosts: readonly HostStatus[],
): string {
  const opt = (v: string, cur: string, label = v) =>
    `<option value="${esc(v)}"${v === cur ? ' selected' : ''}>${esc(label)}</option>`;
  const filtered = q.q !== '' || q.rpo !== '' || q.host !== '';
  const filters = `<form class="filters" method="get" action="/ui#vms" id="vm-filter">
<input name="q" id="vm-q" value="${esc(q.q)}" placeholder="name, uuid, host or tag">
<select name="rpo" id="vm-rpo">${opt('', q.rpo, 'any RPO status')}${['ok', 'at-risk', 'violated', 'never'].map((r) => opt(r, q.rpo)).join('')}</select>
<select name="host" id="vm-host">${opt('', q.host, 'any host')}${hosts.map((h) => opt(h.name, q.host)).join('')}</select>
<input type="hidden" name="sort" value="${esc(q.sort)}"><input type="hidden" name="dir" value="${esc(q.dir)}">
<button type="submit" id="vm-apply">Filter</button>${filtered ? '<a href="/ui#vms" id="vm-clear">Clear</a>' : ''}
<span class="count">${filtered ? `${vms.length} of ${total} VMs` : `${total} VMs`}</span></form>`;
  const rows = vms.map(
    (
      v,
    ) => `<tr data-vm="${esc(v.name)}" data-rpo="${esc(v.rpo)}"><td><a href="/ui/vms/${esc(encodeURIComponent(v.uuid))}">${esc(v.name)}</a></td>
<td>${esc(v.currentHost ?? '—')}</td><td>${badge(v.rpo)}</td><td>${esc(age(v.ageSeconds))}</td>
<td>${esc(v.lastSnapshot?.level ?? '—')}</td><td>${v.chainLength}</td>
<td>${v.lastRun ? badge(v.lastRun.status) : '—'} <span class="mono">${esc(v.lastRun?.reasons.join(', ') ?? '')}</span></td></tr>`,
  );
  const head = `<tr><th>${sortLink(q, 'name', 'VM')}</th><th>${sortLink(q, 'host', 'Host')}</th><th>${sortLink(q, 'rpo', 'RPO')}</th><th>${sortLink(q, 'age', 'Last good')}</th><th>Level</th><th>${sortLink(q, 'chain', 'Chain')}</th><th>${sortLink(q, 'last', 'Last run')}</th></tr>`;
  const empty = vms.length === 0 ? '<tr><td colspan="7" class="mute">No VM matches.</td></tr>' : '';
  return `${filters}<div class="scroll"><table id="vm-table"><thead>${head}</thead><tbody>${rows.join('')}${empty}</tbody></table></div>`;
}

function failures(runs: readonly FinishedRun[]): string {
  if (runs.length === 0) {
    return '<p class="mute">No failed runs in this period.</p>';
  }
  const rows = runs.slice(0, 20).map(
    (
      r,
    ) => `<tr><td>${esc(when(r.finishedAt))}</td><td><a href="/ui/vms/${esc(r.domainUuid)}">${esc(r.name)}</a></td><td>${esc(r.host)}</td>
<td>${badge(r.status)}</td><td class="mono">${esc(r.errorCode ?? '')}</td><td>${esc(r.errorMessage ?? '')}</td></tr>`,
  );
  return `<table id="failures-table"><thead><tr><th>When</th><th>VM</th><th>Host</th><th>Status</th><th>Code</th><th>Message</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function breaksList(s: FleetSummary): string {
  const items = [...s.chainBreaks, ...s.repairs].map(
    (r) =>
      `<tr><td class="mono">${esc(r.reason)}</td><td>${r.runs}</td><td class="mute">${esc(isReasonCode(r.reason) ? explainReason(r.reason) : '')}</td></tr>`,
  );
  const repos = s.repositories.map(
    (r) =>
      `<tr><td>${esc(r.repository)}</td><td>${r.snapshots}</td><td>${esc(bytes(r.logicalBytes))}</td><td>${esc(bytes(r.bytesNew))}</td><td>${r.dedupRatio === null ? '—' : `${r.dedupRatio.toFixed(1)}×`}</td></tr>`,
  );
  return `<div class="grid" style="grid-template-columns:1fr 1fr"><div class="card"><h2>Chain breaks and repairs</h2>
<table id="breaks-table"><thead><tr><th>Reason</th><th>Runs</th><th>Meaning</th></tr></thead><tbody>${items.join('') || '<tr><td class="mute">none</td></tr>'}</tbody></table></div>
<div class="card"><h2>Repositories</h2><table id="repos-table"><thead><tr><th>Repository</th><th>Snapshots</th><th>Logical</th><th>Stored (new)</th><th>Dedup</th></tr></thead><tbody>${repos.join('')}</tbody></table></div></div>`;
}

/** The fleet overview. */
export function overviewPage(d: {
  who: string;
  hosts: readonly HostStatus[];
  vms: readonly VmReport[];
  summary: FleetSummary;
  failures: readonly FinishedRun[];
  query: VmQuery;
}): string {
  const total = Object.values(d.summary.protection).reduce((a, b) => a + b, 0);
  const body = `<h1>Fleet overview</h1>
<h2>Protection</h2>${protectionCards(d.summary)}
<h2>Hosts</h2>${hostCards(d.hosts)}
<div class="card"><h2>Runs per host and day (since ${esc(d.summary.since.slice(0, 10))})</h2>${runsBarsSvg(d.summary.hostDays, d.summary.since)}
<div class="legend"><span><i style="background:#34a853"></i>succeeded</span><span><i style="background:#c5221f"></i>failed</span></div></div>
<div class="card" id="vms"><h2>Virtual machines</h2>${vmTable(sortVms(d.vms, d.query.sort, d.query.dir), total, d.query, d.hosts)}</div>
<div class="card" id="failures"><h2>Recent failures</h2>${failures(d.failures)}</div>
${breaksList(d.summary)}`;
  return page('Fleet overview', body, d.who);
}

/** A VM's page with its chain timeline. */
export function vmPage(who: string, t: VmTimeline): string {
  const v = t.vm;
  const rows = [...t.entries]
    .reverse()
    .map(
      (e) =>
        `<tr data-kind="${esc(e.kind)}"><td>${esc(when(e.at))}</td><td>${badge(`k-${e.kind}`, e.kind)}</td><td>${esc(e.host)}</td><td>${esc(e.label)}</td><td class="mono">${esc(e.codes.join(', '))}</td></tr>`,
    );
  const body = `<p><a href="/ui">← Fleet overview</a></p><h1>${esc(v.name)} ${badge(v.rpo)}</h1>
<div class="grid fit"><div class="card"><div class="mute">Host</div><div class="stat">${esc(v.currentHost ?? '—')}</div><div class="mute" id="vm-policies">policy: ${esc(v.policies.join(', ') || 'none')}</div></div>
<div class="card"><div class="mute">Last good snapshot</div><div class="stat">${esc(age(v.ageSeconds))} <small>ago</small></div><div class="mute">${esc(when(v.lastSnapshot?.endedAt))}</div></div>
<div class="card"><div class="mute">Chain length</div><div class="stat">${v.chainLength}</div></div>
<div class="card"><div class="mute">RPO</div><div class="stat">${esc(age(v.rpoAppliedSeconds))}</div></div></div>
<div class="card"><h2>Chain timeline</h2>${timelineSvg(t.entries)}
<div class="legend"><span><i style="background:#1f5fbf"></i>full</span><span><i style="background:#34a853"></i>incremental</span><span><i style="background:#129eaf"></i>differential</span><span><i style="background:#c5221f"></i>chain break / failed run</span><span><i style="background:#e37400"></i>checkpoint redefined</span><span><i style="background:#6b4fbb"></i>migration</span></div></div>
<div class="card"><h2>Events</h2><table id="events-table"><thead><tr><th>When</th><th>What</th><th>Host</th><th>Detail</th><th>Codes</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>
<p class="mute mono">${esc(v.uuid)}</p>`;
  return page(v.name, body, who);
}
