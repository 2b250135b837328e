/** Fleet reporting, pure: RPO status, chain breaks, timelines, Prometheus text. */
export * from './rpo.js';
export * from './timeline.js';
export * from './prometheus.js';
