/** `@virtvault/agent`: the per-host daemon serving the agent API over gRPC with mTLS. */
export const AGENT_COMPONENT = 'agent';
