/** `@virtvault/controller`: scheduling, dispatch, lineage and reports across the fleet. */
export const CONTROLLER_COMPONENT = 'controller';
export * from './errors.js';
export * from './config.js';
export * from './agents.js';
export * from './controller.js';
export * from './service.js';
export * from './dispatch.js';
export * from './inventory.js';
export * from './queue/types.js';
export { JobQueues, type QueueSettings, type QueueLimits } from './queue/job-queues.js';
export * from './queue/job-ids.js';
