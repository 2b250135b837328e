/**
 * A controller replica in its own process, for the SIGKILL takeover test: starts with fake agents
 * whose backups run long, enqueues the policy's backups, prints `enqueued`, and runs until killed.
 */
import type { ControllerConfig } from '../config.js';

import { FakeAgentWorld, type FakeVm } from './fake-agent.js';
import { replica } from './harness.js';

interface ChildArgs {
  databaseUrl: string;
  redisUrl: string;
  dir: string;
  config: ControllerConfig;
  vms: FakeVm[];
  backupMs: number;
  policy: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const world = new FakeAgentWorld(args.dir, { backupMs: args.backupMs, heartbeatMs: 200 });
for (const vm of args.vms) {
  world.place(vm);
}
const env = { ...args, prefix: args.config.queuePrefix, cleanup: () => Promise.resolve() };
const ctl = replica(env, world, args.config);
await ctl.start();
await ctl.service.runNow({ policy: args.policy });
process.stdout.write('enqueued\n');
setInterval(() => undefined, 60_000);
