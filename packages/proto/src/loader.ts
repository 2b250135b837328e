/**
 * Loads the agent API at run time with `@grpc/proto-loader` (protobufjs underneath) from the
 * top-level `proto/` directory, typed with the generated `ProtoGrpcType`.
 */
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

import type { ProtoGrpcType } from './generated/agent.js';
import type { AgentServiceDefinition } from './generated/virtvault/agent/v1/AgentService.js';

/**
 * The `.proto` file. `src/` and `dist/` sit at the same depth, so the path resolves from both.
 */
export const AGENT_PROTO_FILE = fileURLToPath(
  new URL('../../../proto/virtvault/agent/v1/agent.proto', import.meta.url),
);

/** proto-loader options; they must match the generator's flags (scripts/gen-proto.mjs). */
export const LOADER_OPTIONS: Options = {
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  keepCase: false,
};

let cached: ProtoGrpcType | undefined;

/** The loaded `virtvault.agent.v1` package (parsed once per process). */
export function loadAgentPackage(): ProtoGrpcType {
  cached ??= grpc.loadPackageDefinition(
    loadSync(AGENT_PROTO_FILE, LOADER_OPTIONS),
  ) as unknown as ProtoGrpcType;
  return cached;
}

/** The service definition a server registers handlers for. */
export function agentServiceDefinition(): AgentServiceDefinition {
  return loadAgentPackage().virtvault.agent.v1.AgentService.service;
}
