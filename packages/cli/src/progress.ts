/**
 * Progress of long work per disk: a redrawn bar with rate and ETA on a terminal, a plain line
 * every 10 % otherwise, nothing with --json (stdout holds the document; progress goes to stderr).
 */
import type { CliContext } from './context.js';
import { formatBytes } from './output.js';

interface DiskState {
  done: number;
  total: number;
  /** When the disk first reported, and how far it was then: the rate counts from there. */
  started: number;
  doneAtStart: number;
  lastTenth: number;
}

/** A rate measured over less than this is noise (the first report may come with bytes done). */
const MIN_RATE_MS = 250;

/** Renders progress of several disks. */
export class Progress {
  readonly #ctx: CliContext;
  readonly #verb: string;
  readonly #disks = new Map<string, DiskState>();
  readonly #tty: boolean;
  #lastDraw = 0;

  /**
   * @param ctx the command's context (stderr, clock)
   * @param verb what is done, e.g. `read`
   * @param quiet print nothing (--json)
   */
  constructor(ctx: CliContext, verb: string, quiet: boolean) {
    this.#ctx = ctx;
    this.#verb = verb;
    this.#tty = !quiet && ctx.stderr.isTTY === true && !ctx.env.noColor;
    this.#quiet = quiet;
  }

  readonly #quiet: boolean;

  /** Records that `done` of `total` bytes of a disk are through. */
  update(disk: string, done: number, total: number): void {
    if (this.#quiet) {
      return;
    }
    const now = this.#ctx.now();
    const s = this.#disks.get(disk) ?? {
      done: 0,
      total,
      started: now,
      doneAtStart: done,
      lastTenth: -1,
    };
    s.done = done;
    s.total = total;
    this.#disks.set(disk, s);
    if (this.#tty) {
      if (now - this.#lastDraw >= 200 || done >= total) {
        this.#lastDraw = now;
        this.#draw(now);
      }
      return;
    }
    const tenth = total === 0 ? 10 : Math.floor((done / total) * 10);
    if (tenth > s.lastTenth) {
      s.lastTenth = tenth;
      this.#ctx.stderr.write(`${disk}: ${this.#line(s, now)}\n`);
    }
  }

  #line(s: DiskState, now: number): string {
    const ms = now - s.started;
    const pct = s.total === 0 ? 100 : Math.floor((s.done / s.total) * 100);
    const head = `${pct}% ${formatBytes(s.done)}/${formatBytes(s.total)} ${this.#verb}`;
    if (ms < MIN_RATE_MS) {
      return head;
    }
    const rate = ((s.done - s.doneAtStart) * 1000) / ms;
    const left = s.total - s.done;
    const eta = left <= 0 ? '0s' : rate <= 0 ? '--' : `${Math.ceil(left / rate)}s`;
    return `${head}, ${formatBytes(rate)}/s, ETA ${eta}`;
  }

  #draw(now: number): void {
    const parts = [...this.#disks].map(([d, s]) => {
      const width = 20;
      const filled = s.total === 0 ? width : Math.round((s.done / s.total) * width);
      return `${d} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#line(s, now)}`;
    });
    this.#ctx.stderr.write(`\r\x1b[K${parts.join(' | ')}`);
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.#tty && this.#disks.size > 0) {
      this.#ctx.stderr.write('\n');
    }
  }
}
