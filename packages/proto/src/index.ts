/** `@virtvault/proto`: the agent API (`virtvault.agent.v1`) and its converters to core types. */
export const AGENT_API_PACKAGE = 'virtvault.agent.v1';
export * from './agent-api.js';
