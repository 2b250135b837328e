/**
 * Prometheus text exposition format 0.0.4: metric families to text. Pure. Escaping follows the
 * format's rules: in label values `\`, `"` and newline; in HELP `\` and newline.
 */
import { CoreError } from '../errors.js';

/** Metric types used here. */
export type MetricType = 'gauge' | 'counter';

/** One sample: labels and value. */
export interface MetricSample {
  /** Label names and values. */
  labels: Readonly<Record<string, string>>;
  /** Value (NaN and ±Inf are written as the format spells them). */
  value: number;
}

/** A family: name, help, type and samples. */
export interface MetricFamily {
  /** Metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`). */
  name: string;
  /** One line of help. */
  help: string;
  /** Type. */
  type: MetricType;
  /** Samples. */
  samples: readonly MetricSample[];
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) {
    return 'NaN';
  }
  if (v === Infinity) {
    return '+Inf';
  }
  if (v === -Infinity) {
    return '-Inf';
  }
  return String(v);
}

function formatSample(name: string, s: MetricSample): string {
  const entries = Object.entries(s.labels);
  for (const [k] of entries) {
    if (!LABEL_RE.test(k) || k.startsWith('__')) {
      throw new CoreError('BAD_METRIC', `bad label name ${k} on ${name}`);
    }
  }
  const labels = entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
  return `${name}${labels === '' ? '' : `{${labels}}`} ${formatValue(s.value)}`;
}

/** Writes the families as exposition text (ends with a newline). */
export function formatMetrics(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (!NAME_RE.test(f.name)) {
      throw new CoreError('BAD_METRIC', `bad metric name ${f.name}`);
    }
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      out.push(formatSample(f.name, s));
    }
  }
  return out.join('\n') + '\n';
}
