/**
 * HTML building blocks of the dashboard: escaping, the page layout and its stylesheet. Pure; no
 * client-side framework (every page works without JavaScript).
 */

/** Escapes text for HTML content and attribute values. */
export function esc(v: string | number | boolean | null | undefined): string {
  const s = v === null || v === undefined ? '' : String(v);
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A time as `YYYY-MM-DD HH:MM UTC`, or a dash. */
export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) {
    return '—';
  }
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

/** A duration in seconds as `3d 4h`, `5h 10m` or `12m`. */
export function age(seconds: number | null): string {
  if (seconds === null) {
    return 'never';
  }
  const m = Math.floor(seconds / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (d > 0) {
    return `${d}d ${h % 24}h`;
  }
  if (h > 0) {
    return `${h}h ${m % 60}m`;
  }
  return `${m}m`;
}

/** Bytes in binary units. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u] ?? ''}`;
}

const CSS = `
:root{--bg:#f5f7fa;--card:#fff;--ink:#1d2733;--mute:#5f6b7a;--line:#e2e7ee;--brand:#1f5fbf;
--ok:#1e8e3e;--warn:#b26a00;--bad:#c5221f;--never:#6b4fbb;--inc:#34a853;--full:#1f5fbf;--diff:#129eaf}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:var(--bg);color:var(--ink)}a{color:var(--brand);text-decoration:none}a:hover{text-decoration:underline}
header{background:#102a43;color:#fff;padding:12px 24px;display:flex;align-items:center;gap:24px}
header .logo{font-weight:700;font-size:17px;letter-spacing:.3px}header nav a{color:#d9e2ec;margin-right:16px}
header .who{margin-left:auto;color:#9fb3c8;font-size:13px}main{padding:20px 24px;max-width:1400px;margin:0 auto}
h1{font-size:20px;margin:4px 0 16px}h2{font-size:15px;margin:0 0 12px;color:var(--mute);text-transform:uppercase;letter-spacing:.6px}
.grid{display:grid;gap:16px;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));margin-bottom:20px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin-bottom:20px}
.grid .card{margin:0}.stat{font-size:26px;font-weight:700}.stat small{font-size:13px;color:var(--mute);font-weight:400}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;white-space:nowrap}
.b-ok,.b-up{background:var(--ok)}.b-at-risk{background:var(--warn)}.b-violated,.b-down,.b-failed,.b-abandoned{background:var(--bad)}
.b-never,.b-unknown{background:var(--never)}
.b-k-full{background:var(--full)}.b-k-incremental{background:var(--inc)}.b-k-differential{background:var(--diff)}
.b-k-break,.b-k-failed{background:var(--bad)}.b-k-repair{background:#e37400}.b-k-migration{background:var(--never)}.b-running{background:var(--brand)}.b-succeeded{background:var(--ok)}
table{width:100%;border-collapse:collapse;background:var(--card)}th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line)}
th{font-size:12px;color:var(--mute);text-transform:uppercase;letter-spacing:.4px}th a{color:inherit}tr:hover td{background:#f0f4fa}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}.mute{color:var(--mute)}
form.filters{display:flex;gap:8px;flex-wrap:wrap;align-items:center;margin-bottom:12px}
form.filters input,form.filters select{height:34px;padding:0 10px;border:1px solid #c9d2dd;border-radius:6px;background:#fff;color:var(--ink);font:inherit}
form.filters input[name=q]{min-width:260px}.filters .count{margin-left:auto;color:var(--mute)}
button{height:34px;background:var(--brand);color:#fff;border:0;border-radius:6px;padding:0 16px;font:inherit;font-weight:600;cursor:pointer}
button:hover{background:#174a96}.grid.fit{grid-template-columns:repeat(auto-fit,minmax(200px,1fr))}.scroll{overflow-x:auto}
.login{max-width:420px;margin:80px auto}.login input{width:100%;padding:9px;margin:8px 0 14px;border:1px solid var(--line);border-radius:6px}
.err{color:var(--bad);font-weight:600}.legend span{margin-right:14px;font-size:12px;color:var(--mute)}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:middle}
svg text{font-family:system-ui,sans-serif}
`;

// inline, so that the browser's favicon request neither 404s nor needs a route (CSP allows data:)
const ICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%231f5fbf'/%3E%3Cpath d='M4 5l4 7 4-7' stroke='%23fff' stroke-width='2' fill='none'/%3E%3C/svg%3E";

/** A whole page. */
export function page(title: string, body: string, who: string | null = null): string {
  const nav =
    who === null
      ? ''
      : `<nav><a href="/ui">Overview</a><a href="/ui#vms">VMs</a><a href="/ui#failures">Failures</a></nav>
<span class="who">${esc(who)} · <a href="/logout" style="color:#9fb3c8">sign out</a></span>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)} · virtvault</title><link rel="icon" href="${ICON}"><style>${CSS}</style></head>
<body><header><span class="logo">virtvault</span>${nav}</header><main>${body}</main></body></html>
`;
}

/** A coloured badge. */
export function badge(kind: string, text?: string): string {
  return `<span class="badge b-${esc(kind)}">${esc(text ?? kind)}</span>`;
}
