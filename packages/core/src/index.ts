export * from './errors.js';
export * from './model/manifest.js';
