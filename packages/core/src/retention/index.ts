export * from './gfs.js';
