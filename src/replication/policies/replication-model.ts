/** A remote registry as policies name it. The secret stays in the store; this carries only whether one is set. */
export interface RegistryEndpoint {
  id: number;
  name: string;
  /** `https://host[:port]` or `http://…`, without a path. */
  url: string;
  description: string;
  credential: { type: 'basic'; accessKey: string; hasSecret: boolean } | { type: 'none' };
  caCertificate: string | undefined;
  insecure: boolean;
  createdAt: number;
  updatedAt: number;
}

/** What the registry client authenticates with, decrypted only when an execution or a ping needs it. */
export interface EndpointConnection {
  url: string;
  username: string | undefined;
  password: string | undefined;
  caCertificate: string | undefined;
  insecure: boolean;
}

export type FilterType = 'name' | 'tag';
export type FilterDecoration = 'matches' | 'excludes';

/** Harbor's filter: a glob on the repository name or the tag, which an artifact must match or must not. */
export interface ArtifactFilter {
  type: FilterType;
  value: string;
  decoration: FilterDecoration;
}

export const triggerTypes = ['manual', 'scheduled', 'event_based'] as const;
export type TriggerType = (typeof triggerTypes)[number];

/** `pull`: the remote is the source and Wharf the destination; `push`: the other way round. */
export type Direction = 'push' | 'pull';

export interface ReplicationPolicy {
  id: number;
  name: string;
  description: string;
  enabled: boolean;
  direction: Direction;
  /** The remote registry: the source of a pull policy, the destination of a push policy. */
  remoteId: number;
  filters: ArtifactFilter[];
  /** Harbor's destination namespace and how many leading path components it replaces (-1: all but the last). */
  destNamespace: string | undefined;
  destNamespaceReplaceCount: number;
  trigger: { type: TriggerType; cron: string | undefined };
  /** Replace a destination tag that names other content. */
  override: boolean;
  /** Push mode, event-based: a tag or manifest deleted here is deleted on the remote. */
  deletion: boolean;
  /** Artifacts copied at once within one execution. */
  concurrency: number;
  /** Bytes per second for the whole execution; 0: no limit. */
  speed: number;
  createdBy: string | undefined;
  createdAt: number;
  updatedAt: number;
}

export const executionStatuses = ['pending', 'running', 'succeeded', 'failed', 'stopped'] as const;
export type ExecutionStatus = (typeof executionStatuses)[number];
export type ExecutionTrigger = TriggerType;

export const taskStatuses = ['pending', 'running', 'succeeded', 'failed', 'stopped', 'skipped'] as const;
export type TaskStatus = (typeof taskStatuses)[number];
export type TaskOperation = 'copy' | 'deletion';

export interface ExecutionSummary {
  total: number;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  stopped: number;
  skipped: number;
  bytes: number;
}

export interface Execution {
  id: number;
  policyId: number;
  status: ExecutionStatus;
  trigger: ExecutionTrigger;
  statusText: string;
  stopRequested: boolean;
  /** The instance that runs or ran it. */
  instance: string | undefined;
  createdAt: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
}

export interface ReplicationTask {
  id: number;
  executionId: number;
  operation: TaskOperation;
  /** `repository:tag` or `repository@digest`, on the source side (for a deletion: the local one). */
  srcResource: string;
  dstResource: string;
  digest: string | undefined;
  status: TaskStatus;
  attempts: number;
  bytes: number;
  error: string | undefined;
  createdAt: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
}

export function isFinished(status: ExecutionStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'stopped';
}
