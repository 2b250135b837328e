/** `@virtvault/proto`: the agent API (`virtvault.agent.v1`) and its converters to core types. */
export const AGENT_API_PACKAGE = 'virtvault.agent.v1';
export * from './agent-api.js';
export { ProtoError, oneOf, required } from './errors.js';
export { AgentClient } from './client.js';
export {
  AGENT_PROTO_FILE,
  LOADER_OPTIONS,
  agentServiceDefinition,
  loadAgentPackage,
} from './loader.js';
export {
  VV_CODE,
  errorCodeOf,
  fromGrpcError,
  grpcStatusFor,
  isServiceError,
  toGrpcError,
  type GrpcErrorObject,
} from './status-map.js';
export { certificateIsFor, certificateNames } from './tls-names.js';
export * from './convert/enums.js';
export * from './convert/observed.js';
export * from './convert/manifest.js';
export * from './convert/requests.js';
export * from './convert/fleet.js';
export type { AgentServiceHandlers } from './generated/virtvault/agent/v1/AgentService.js';
export type { RunBackupUpdate } from './generated/virtvault/agent/v1/RunBackupUpdate.js';
export type { RestoreUpdate } from './generated/virtvault/agent/v1/RestoreUpdate.js';
