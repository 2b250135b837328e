export { buildProgram, type ProgramOptions } from './program.js';
