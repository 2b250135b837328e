/**
 * The agent pool: one `AgentApi` per host, made by a factory (gRPC over mTLS in production, test
 * agents in tests), replaced when the host's address changes, closed on shutdown.
 */
import { readFile } from 'node:fs/promises';

import { AgentClient, type AgentApi } from '@virtvault/proto';

import { ControllerError } from './errors.js';

/** Makes the client of one host's agent. */
export type AgentFactory = (host: { name: string; address: string }) => AgentApi;

/** A factory of gRPC clients over mTLS; the agent's certificate must name the host. */
export async function grpcAgentFactory(tls: {
  ca: string;
  cert: string;
  key: string;
}): Promise<AgentFactory> {
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (e) {
      throw new ControllerError('CONFIG_INVALID', `grpc.${what}: cannot read ${path}`, {
        cause: e,
        retryable: false,
      });
    }
  };
  const [ca, cert, key] = await Promise.all([
    read('ca', tls.ca),
    read('cert', tls.cert),
    read('key', tls.key),
  ]);
  return (h) => new AgentClient({ address: h.address, expectedHostName: h.name, ca, cert, key });
}

/** Clients by host name. */
export class AgentPool {
  readonly #clients = new Map<string, { address: string; api: AgentApi }>();

  /** @param factory makes one client */
  constructor(private readonly factory: AgentFactory) {}

  /** The client of a host at `address` (a new one when the address changed). */
  get(host: { name: string; address: string | null }): AgentApi {
    if (host.address === null) {
      throw new ControllerError('HOST_NO_ADDRESS', `host ${host.name} has no agent address`, {
        retryable: false,
      });
    }
    const known = this.#clients.get(host.name);
    if (known !== undefined && known.address === host.address) {
      return known.api;
    }
    known?.api.close();
    const api = this.factory({ name: host.name, address: host.address });
    this.#clients.set(host.name, { address: host.address, api });
    return api;
  }

  /** Closes and forgets one host's client. */
  drop(name: string): void {
    this.#clients.get(name)?.api.close();
    this.#clients.delete(name);
  }

  /** Closes every client. */
  closeAll(): void {
    for (const c of this.#clients.values()) {
      c.api.close();
    }
    this.#clients.clear();
  }
}
