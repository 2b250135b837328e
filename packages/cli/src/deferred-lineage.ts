/**
 * A lineage store whose calls wait for it to open. A backup observes the domain (libvirt, QMP,
 * `qemu-img info`) before it first needs the lineage, and the embedded store's start is ~0.6 s of
 * WebAssembly work: opening both at once takes that off every backup's critical path.
 */
import type { LineageStore } from '@virtvault/core';

type Args<K extends keyof LineageStore> = Parameters<LineageStore[K]>;

/** Forwards every call to the store `ready` resolves to; a failed open fails each call. */
export class DeferredLineage implements LineageStore {
  /** @param ready the store being opened */
  constructor(private readonly ready: Promise<LineageStore>) {
    // a failed open is reported by each call; until one is made it is not an unhandled rejection
    ready.catch(() => undefined);
  }

  /** See {@link LineageStore.beginRun}. */
  async beginRun(...a: Args<'beginRun'>): Promise<string[]> {
    return (await this.ready).beginRun(...a);
  }

  /** See {@link LineageStore.heartbeat}. */
  async heartbeat(...a: Args<'heartbeat'>): Promise<boolean> {
    return (await this.ready).heartbeat(...a);
  }

  /** See {@link LineageStore.noteCheckpoint}. */
  async noteCheckpoint(...a: Args<'noteCheckpoint'>): Promise<void> {
    return (await this.ready).noteCheckpoint(...a);
  }

  /** See {@link LineageStore.reconcile}. */
  async reconcile(...a: Args<'reconcile'>): ReturnType<LineageStore['reconcile']> {
    return (await this.ready).reconcile(...a);
  }

  /** See {@link LineageStore.loadLineage}. */
  async loadLineage(...a: Args<'loadLineage'>): ReturnType<LineageStore['loadLineage']> {
    return (await this.ready).loadLineage(...a);
  }

  /** See {@link LineageStore.markCheckpoints}. */
  async markCheckpoints(...a: Args<'markCheckpoints'>): Promise<void> {
    return (await this.ready).markCheckpoints(...a);
  }

  /** See {@link LineageStore.commitSnapshot}. */
  async commitSnapshot(...a: Args<'commitSnapshot'>): Promise<void> {
    return (await this.ready).commitSnapshot(...a);
  }

  /** See {@link LineageStore.failRun}. */
  async failRun(...a: Args<'failRun'>): Promise<void> {
    return (await this.ready).failRun(...a);
  }

  /** See {@link LineageStore.recordEvent}. */
  async recordEvent(...a: Args<'recordEvent'>): Promise<void> {
    return (await this.ready).recordEvent(...a);
  }
}
