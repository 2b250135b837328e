/**
 * Collects reason codes and their findings while planning, deduplicating codes.
 */
import type { PlanDetail } from '../model/plan.js';
import { REASONS, type ReasonCode } from '../model/reasons.js';

/** An ordered, deduplicated set of reasons with the findings behind them. */
export class ReasonLog {
  readonly #reasons: ReasonCode[] = [];
  readonly #details: PlanDetail[] = [];

  /** Records a finding; the code is added once. */
  add(code: ReasonCode, message: string): void {
    if (!this.#reasons.includes(code)) {
      this.#reasons.push(code);
    }
    this.#details.push({ code, message });
  }

  /** True when any recorded reason forces a full. */
  forcesFull(): boolean {
    return this.#reasons.some((r) => REASONS[r].effect === 'full');
  }

  /** True when `code` was recorded. */
  has(code: ReasonCode): boolean {
    return this.#reasons.includes(code);
  }

  /** The reason codes, in the order found. */
  reasons(): ReasonCode[] {
    return [...this.#reasons];
  }

  /** The findings, in the order found. */
  details(): PlanDetail[] {
    return [...this.#details];
  }
}
