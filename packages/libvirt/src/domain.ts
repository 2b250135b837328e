/**
 * A libvirt domain: state, XML, lifecycle, jobs, backups and the QEMU monitor.
 */
import { native, type DomHandle, type NativeDomainInfo, type NativeParams } from './binding.js';
import { Checkpoints } from './checkpoints.js';
import { call, LibvirtError } from './errors.js';
import {
  DOMAIN_STATES,
  JOB_TYPES,
  JobStatsFlags,
  MonitorCommandFlags,
  nameOf,
  UndefineFlags,
  type DomainState,
  type JobType,
} from './flags.js';
import { parseBackupXml, type BackupJobDescription } from './xml/backup-xml.js';
import { parseDomainXml, type DomainDescription } from './xml/domain-xml.js';

/** A domain's state and kind at one moment. */
export interface DomainStatus {
  state: DomainState;
  /** libvirt's numeric state reason (e.g. 1 = booted for running). */
  reason: number;
  /** Hypervisor id, -1 when inactive. */
  id: number;
  persistent: boolean;
  active: boolean;
}

/** A domain job's type and libvirt's typed statistics. */
export interface JobStats {
  type: JobType;
  /** `operation`, `time_elapsed`, `disk_total`, … by libvirt's parameter names. */
  stats: NativeParams;
}

/** One QMP reply's error (`{"error":{"class","desc"}}`), as a LibvirtError from VIR_FROM_QEMU. */
function qmpError(command: string, error: { class?: string; desc?: string }): LibvirtError {
  const VIR_ERR_OPERATION_FAILED = 9;
  const VIR_FROM_QEMU = 10;
  const msg = `QMP ${command} failed: ${error.class ?? 'Error'}: ${error.desc ?? ''}`;
  return new LibvirtError(VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU, msg);
}

/** A domain. Obtained from a Connection; holds a libvirt reference freed when garbage-collected. */
export class Domain {
  /** The domain's name. */
  readonly name: string;
  /** The domain's UUID. */
  readonly uuid: string;
  /** State when this object was obtained; call `status()` for a fresh one. */
  readonly initialStatus: DomainStatus;
  /** The domain's checkpoints. */
  readonly checkpoints: Checkpoints;
  private readonly handle: DomHandle;

  /** @param info what the addon returned for this domain (internal; use Connection). */
  constructor(info: NativeDomainInfo) {
    this.handle = info.handle;
    this.name = info.name;
    this.uuid = info.uuid;
    this.initialStatus = toStatus(info);
    this.checkpoints = new Checkpoints(info.handle, info.name);
  }

  /** Current state, persistence and activity. */
  async status(): Promise<DomainStatus> {
    return toStatus(await call(`status ${this.name}`, () => native.domainInfo(this.handle)));
  }

  /** The domain XML (DomainXmlFlags: MIGRATABLE, INACTIVE, SECURE, …). */
  async xml(flags = 0): Promise<string> {
    return call(`dumpxml ${this.name}`, () => native.domainGetXml(this.handle, flags));
  }

  /** The domain XML parsed into name, uuid and disks. */
  async describe(flags = 0): Promise<DomainDescription> {
    return parseDomainXml(await this.xml(flags));
  }

  /** Starts a defined domain (virDomainCreateWithFlags). */
  async start(flags = 0): Promise<void> {
    await call(`start ${this.name}`, () => native.domainStart(this.handle, flags));
  }

  /** Stops the domain at once (SIGTERM, then SIGKILL; QEMU still saves persistent bitmaps). */
  async destroy(flags = 0): Promise<void> {
    await call(`destroy ${this.name}`, () => native.domainDestroy(this.handle, flags));
  }

  /** Asks the guest to shut down (ACPI). */
  async shutdown(flags = 0): Promise<void> {
    await call(`shutdown ${this.name}`, () => native.domainShutdown(this.handle, flags));
  }

  /** Undefines; `checkpointsMetadata` also drops checkpoint metadata (needed when any exist). */
  async undefine(options: { checkpointsMetadata?: boolean; flags?: number } = {}): Promise<void> {
    const flags =
      (options.flags ?? 0) | (options.checkpointsMetadata ? UndefineFlags.CHECKPOINTS_METADATA : 0);
    await call(`undefine ${this.name}`, () => native.domainUndefine(this.handle, flags));
  }

  /** Current job (or, with `completed`, the last completed one) and its statistics. */
  async jobStats(options: { completed?: boolean } = {}): Promise<JobStats> {
    const flags = options.completed ? JobStatsFlags.COMPLETED : 0;
    const r = await call(`jobStats ${this.name}`, () => native.domainJobStats(this.handle, flags));
    return { type: nameOf(JOB_TYPES, r.type), stats: r.stats };
  }

  /** Aborts the current job (ends a pull backup). */
  async abortJob(flags = 0): Promise<void> {
    await call(`abortJob ${this.name}`, () => native.domainAbortJob(this.handle, flags));
  }

  /**
   * Starts a pull or push backup job (virDomainBackupBegin), atomically creating the checkpoint
   * described by `checkpointXml` if given.
   */
  async backupBegin(backupXml: string, checkpointXml?: string, flags = 0): Promise<void> {
    await call(`backupBegin ${this.name}`, () =>
      native.domainBackupBegin(this.handle, backupXml, checkpointXml ?? null, flags),
    );
  }

  /** The running backup job's XML (rejects with VIR_ERR_NO_DOMAIN_BACKUP when none runs). */
  async backupXml(): Promise<string> {
    return call(`backupXML ${this.name}`, () => native.domainBackupGetXml(this.handle, 0));
  }

  /** The running backup job, parsed: export names, bitmaps, server. */
  async backupJob(): Promise<BackupJobDescription> {
    return parseBackupXml(await this.backupXml());
  }

  /**
   * Freezes the guest's filesystems through the QEMU guest agent (virDomainFSFreeze); all of them
   * when `mountpoints` is empty. Returns how many were frozen. Rejects with
   * `VIR_ERR_ARGUMENT_UNSUPPORTED` when no agent channel is configured and
   * `VIR_ERR_AGENT_UNRESPONSIVE` when the agent is not connected or does not answer.
   */
  async fsFreeze(mountpoints: readonly string[] = []): Promise<number> {
    return call(`domfsfreeze ${this.name}`, () =>
      native.domainFsFreeze(this.handle, [...mountpoints], 0),
    );
  }

  /** Thaws what {@link fsFreeze} froze (virDomainFSThaw); returns how many were thawed. */
  async fsThaw(mountpoints: readonly string[] = []): Promise<number> {
    return call(`domfsthaw ${this.name}`, () =>
      native.domainFsThaw(this.handle, [...mountpoints], 0),
    );
  }

  /**
   * How long libvirt waits for the guest agent (virDomainAgentSetResponseTimeout), in seconds:
   * -2 blocks, -1 is libvirt's default, 0 does not wait. Applies to the running domain.
   */
  async setAgentResponseTimeout(seconds: number): Promise<void> {
    await call(`guest-agent-timeout ${this.name}`, () =>
      native.domainAgentSetResponseTimeout(this.handle, seconds, 0),
    );
  }

  /** Raw monitor command (virDomainQemuMonitorCommand): a QMP JSON string, or HMP text. */
  async monitorCommand(command: string, options: { hmp?: boolean } = {}): Promise<string> {
    const flags = options.hmp ? MonitorCommandFlags.HMP : 0;
    return call(`qemu-monitor-command ${this.name}`, () =>
      native.domainQemuMonitorCommand(this.handle, command, flags),
    );
  }

  /** Runs one QMP command and returns its `return` value; a QMP error rejects as LibvirtError. */
  async qmp(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    const reply = JSON.parse(
      await this.monitorCommand(JSON.stringify({ execute, arguments: args })),
    ) as {
      return?: unknown;
      error?: { class?: string; desc?: string };
    };
    if (reply.error) {
      throw qmpError(execute, reply.error);
    }
    return reply.return;
  }
}

function toStatus(info: NativeDomainInfo): DomainStatus {
  return {
    state: nameOf(DOMAIN_STATES, info.state),
    reason: info.reason,
    id: info.id,
    persistent: info.persistent,
    active: info.active,
  };
}
