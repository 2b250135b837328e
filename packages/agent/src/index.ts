/** `@virtvault/agent`: the per-host daemon serving the agent API over gRPC with mTLS. */
export const AGENT_COMPONENT = 'agent';
export { AgentError, translateError } from './errors.js';
export { loadConfig, parseConfig, type AgentConfig, type RepositoryConfig } from './config.js';
export { AgentService, type AgentServiceOptions, type JobHooks } from './service.js';
export { AgentServer, type LogFn } from './server.js';
export { parseTags, TAGS_NAMESPACE } from './tags.js';
export { toAgentEvent } from './events.js';
