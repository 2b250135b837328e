export * from './slot-plan.js';
