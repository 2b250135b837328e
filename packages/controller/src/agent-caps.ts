/**
 * Hosts whose agent takes fewer backups at once than the host's limit here (its own
 * `maxConcurrentBackups`, learnt from `HostInfo`). Beyond the agent's limit each backup was sent,
 * refused as `AGENT_BUSY`, recorded as a failed run (with its webhook) and sent again later: a
 * steady mismatch of two settings made failures every night. The host's queue takes the lower
 * of the two instead.
 */
export class AgentCaps {
  readonly #caps = new Map<string, number>();

  /**
   * Records `host`'s agent limit (0: an agent that does not say). Returns the limit the host's
   * queue must have now, or null when the configured one stands unchanged. A capped host's limit is
   * returned on every poll: a configuration change sets the configured limit meanwhile.
   */
  learn(host: string, configured: number, agent: number): number | null {
    if (!Number.isInteger(agent) || agent <= 0) {
      return null;
    }
    if (agent < configured) {
      this.#caps.set(host, agent);
      return agent;
    }
    // uncapped again (the agent's limit raised, or the host's lowered): the configured one, once
    return this.#caps.delete(host) ? configured : null;
  }

  /** The limit of `host`: its `configured` one, or its agent's when lower. */
  effective(host: string, configured: number): number {
    return Math.min(configured, this.#caps.get(host) ?? configured);
  }

  /** The agent's limit of `host` when it caps the host's, else null. */
  capOf(host: string): number | null {
    return this.#caps.get(host) ?? null;
  }
}
