/** The controller's HTTP API (`/api/v1`). */
export * from './server.js';
export * from './routes.js';
export * from './router.js';
export * from './problem.js';
