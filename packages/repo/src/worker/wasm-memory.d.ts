/**
 * The one piece of the WebAssembly JS API this package uses (Node has it; `@types/node` 20 does
 * not declare it): a memory, shared or not, whose buffer is page-aligned.
 */
declare namespace WebAssembly {
  /** Descriptor of a memory, in 64 KiB pages. */
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  /** A linear memory; `shared: true` makes its buffer a SharedArrayBuffer. */
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
  }
}
