/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests that read
 * `/metrics`: it throws on anything a scraper could choke on or silently misread, so a test that
 * parses the page also proves the page is well-formed.
 *
 * Checked: `# HELP` / `# TYPE` syntax (one of each per family at most, TYPE before the family's
 * first sample), metric and label name grammar, reserved `__` label names, label value escapes
 * (`\\`, `\"`, `\n` only), duplicate label names, float values (`NaN`, `+Inf`, `-Inf` included),
 * optional integer timestamps, samples of one family kept together, no duplicate series, and the
 * trailing newline.
 */

/** Metric types of the text format. */
export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

/** One sample line. */
export interface PromSample {
  /** Sample name (the family's, or with `_bucket`/`_sum`/`_count` for histograms and summaries). */
  name: string;
  /** Labels, unescaped. */
  labels: Record<string, string>;
  /** Value. */
  value: number;
  /** Timestamp in ms when the line carries one. */
  timestamp?: number;
}

/** One metric family. */
export interface PromFamily {
  /** Family name. */
  name: string;
  /** Type from its TYPE line. */
  type: PromType;
  /** Help text, unescaped (null without a HELP line). */
  help: string | null;
  /** Samples in page order. */
  samples: PromSample[];
}

/** A parse error with the 1-based line it happened on. */
export class PromParseError extends Error {
  /** Line number. */
  readonly line: number;

  /**
   * @param line 1-based line number
   * @param message what is wrong
   */
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly string[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
// Go's strconv.ParseFloat accepts more, but these are what exporters write and scrapers agree on
const FLOAT = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|NaN)$/;
const TIMESTAMP = /^-?\d+$/;

function parseValue(text: string, line: number): number {
  if (!FLOAT.test(text)) {
    throw new PromParseError(line, `bad sample value ${JSON.stringify(text)}`);
  }
  if (text.endsWith('Inf')) {
    return text.startsWith('-') ? -Infinity : Infinity;
  }
  return text.endsWith('NaN') ? NaN : Number(text);
}

function unescapeHelp(text: string, line: number): string {
  return text.replace(/\\(.?)/g, (_m, c: string) => {
    if (c === '\\') {
      return '\\';
    }
    if (c === 'n') {
      return '\n';
    }
    throw new PromParseError(line, `bad escape \\${c} in HELP`);
  });
}

/** Parses `{a="1",b="x\"y"}` starting at `s[i] === '{'`; returns the labels and the index after `}`. */
function parseLabels(
  s: string,
  start: number,
  line: number,
): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  const fail = (msg: string): never => {
    throw new PromParseError(line, `${msg} at column ${i + 1}`);
  };
  for (;;) {
    if (s[i] === '}') {
      return { labels, end: i + 1 };
    }
    const nameEnd = s.indexOf('=', i);
    if (nameEnd < 0) {
      fail('label without =');
    }
    const name = s.slice(i, nameEnd);
    if (!LABEL_NAME.test(name)) {
      fail(`bad label name ${JSON.stringify(name)}`);
    }
    if (name.startsWith('__')) {
      fail(`reserved label name ${name}`);
    }
    if (Object.hasOwn(labels, name)) {
      fail(`duplicate label ${name}`);
    }
    i = nameEnd + 1;
    if (s[i] !== '"') {
      fail('label value must be quoted');
    }
    i++;
    let value = '';
    for (;;) {
      const c = s[i];
      if (c === undefined) {
        fail('unterminated label value');
      } else if (c === '"') {
        break;
      } else if (c === '\\') {
        const e = s[i + 1];
        if (e === '\\' || e === '"') {
          value += e;
        } else if (e === 'n') {
          value += '\n';
        } else {
          fail(`bad escape \\${e ?? ''} in label value`);
        }
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    labels[name] = value;
    i++;
    if (s[i] === ',') {
      i++;
    } else if (s[i] !== '}') {
      fail('expected , or } after a label');
    }
  }
}

/** The family a sample name belongs to, given the declared families. */
function familyOf(name: string, families: ReadonlyMap<string, PromFamily>): PromFamily | undefined {
  const direct = families.get(name);
  if (direct !== undefined) {
    return direct;
  }
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = m?.[1] === undefined ? undefined : families.get(m[1]);
  if (base === undefined || m === null) {
    return undefined;
  }
  const okSuffix =
    base.type === 'histogram' || (base.type === 'summary' && m[2] !== 'bucket') ? base : undefined;
  return okSuffix;
}

/**
 * Parses exposition text into families by name (in page order). Throws {@link PromParseError}
 * on the first violation.
 */
export function parsePrometheus(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const series = new Set<string>();
  const helps = new Map<string, string>();
  const closed = new Set<string>();
  let current: string | null = null;
  if (text !== '' && !text.endsWith('\n')) {
    throw new PromParseError(text.split('\n').length, 'the text must end with a newline');
  }
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === '') {
      return;
    }
    if (raw.startsWith('#')) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(raw);
      if (m === null) {
        return; // a plain comment
      }
      const [, kw, name = '', rest = ''] = m;
      if (!METRIC_NAME.test(name)) {
        throw new PromParseError(line, `bad metric name ${JSON.stringify(name)} in ${kw ?? ''}`);
      }
      if (kw === 'HELP') {
        if (helps.has(name)) {
          throw new PromParseError(line, `second HELP for ${name}`);
        }
        helps.set(name, unescapeHelp(rest, line));
        const f = families.get(name);
        if (f !== undefined) {
          f.help = helps.get(name) ?? null;
        }
        return;
      }
      if (!TYPES.includes(rest.trim())) {
        throw new PromParseError(line, `bad type ${JSON.stringify(rest)} for ${name}`);
      }
      if (families.has(name)) {
        throw new PromParseError(line, `second TYPE for ${name}`);
      }
      const type = rest.trim() as PromType;
      families.set(name, { name, type, help: helps.get(name) ?? null, samples: [] });
      return;
    }
    const nameMatch = /^[^\s{]+/.exec(raw);
    const name = nameMatch?.[0] ?? '';
    if (!METRIC_NAME.test(name)) {
      throw new PromParseError(line, `bad metric name ${JSON.stringify(name)}`);
    }
    let labels: Record<string, string> = {};
    let i = name.length;
    if (raw[i] === '{') {
      const parsed = parseLabels(raw, i, line);
      labels = parsed.labels;
      i = parsed.end;
    }
    const fields = raw
      .slice(i)
      .trim()
      .split(/[ \t]+/);
    if (!/^[ \t]/.test(raw.slice(i)) || fields.length < 1 || fields.length > 2) {
      throw new PromParseError(line, 'expected: name{labels} value [timestamp]');
    }
    const value = parseValue(fields[0] ?? '', line);
    const ts = fields[1];
    if (ts !== undefined && !TIMESTAMP.test(ts)) {
      throw new PromParseError(line, `bad timestamp ${JSON.stringify(ts)}`);
    }
    const family = familyOf(name, families);
    if (family === undefined) {
      throw new PromParseError(line, `sample ${name} has no TYPE line before it`);
    }
    if (current !== family.name) {
      if (closed.has(family.name)) {
        throw new PromParseError(line, `samples of ${family.name} are not kept together`);
      }
      if (current !== null) {
        closed.add(current);
      }
      current = family.name;
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) {
      throw new PromParseError(line, `duplicate series ${name}${JSON.stringify(labels)}`);
    }
    series.add(key);
    family.samples.push({
      name,
      labels,
      value,
      ...(ts !== undefined ? { timestamp: Number(ts) } : {}),
    });
  });
  return families;
}

/**
 * The value of the one sample of `name` whose labels include `labels`; throws when none or
 * several match, so an assertion on it cannot pass by accident.
 */
export function sampleValue(
  families: ReadonlyMap<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const f = familyOf(name, families);
  const hits = (f?.samples ?? []).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (hits.length !== 1 || hits[0] === undefined) {
    throw new Error(`${hits.length} samples of ${name}${JSON.stringify(labels)}, expected 1`);
  }
  return hits[0].value;
}
