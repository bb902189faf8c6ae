/**
 * What happened in the registry, as one record every subscriber format is rendered from. Events are
 * written to the outbox with the change they describe and delivered at least once; `id` (a UUID)
 * is the key a receiver deduplicates on.
 */
export const eventActions = [
  'manifest.pushed',
  'manifest.pulled',
  'manifest.deleted',
  'tag.created',
  'tag.moved',
  'tag.deleted',
  'blob.pushed',
  'blob.pulled',
  'blob.mounted',
  'blob.deleted',
  'repository.created',
  'repository.deleted',
  'project.created',
  'project.deleted',
  'scan.completed',
  'quota.exceeded',
  'quota.near',
  'retention.finished',
  'gc.finished',
  'replication.finished',
  'login.failed',
] as const;

export type EventAction = (typeof eventActions)[number];

export function isEventAction(value: string): value is EventAction {
  return (eventActions as readonly string[]).includes(value);
}

/** What the event is about; which fields are set depends on the action. */
export interface EventTarget {
  /** The project (the repository's first path component, or the project itself). */
  project?: string;
  repository?: string;
  tag?: string;
  digest?: string;
  mediaType?: string;
  size?: number;
  /** Where the content can be fetched (`<base>/v2/<repository>/manifests/<digest>`). */
  url?: string;
  /** tag.moved: the manifest the tag named before. */
  previousDigest?: string;
  /** manifest.deleted: the tags that went with the manifest. */
  tags?: string[];
}

export interface EventActor {
  /** The user or robot name; `''` for anonymous callers, the attempted name for login.failed. */
  name: string;
  /** Where the identity came from (`local`, `robot`, `ldap`, ...; `system` for background work). */
  kind: string;
  /** The client's address, as the access log shows it. */
  address?: string;
}

/** The HTTP request that caused the event, when there was one. */
export interface EventRequest {
  id: string;
  addr?: string;
  host?: string;
  method?: string;
  useragent?: string;
}

/** The registry instance that produced the event. */
export interface EventSource {
  instanceID: string;
  addr: string;
}

/** Scalar facts an action adds (a GC run's counts, a quota's limit); rendered as they are. */
export type EventDetails = Record<string, string | number | boolean | null>;

export interface RegistryEvent {
  id: string;
  /** ISO 8601, UTC, milliseconds. */
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  actor: EventActor;
  request?: EventRequest;
  source: EventSource;
  details?: EventDetails;
}

/** The project a repository belongs to: its first path component (`team` for `team/app`). */
export function projectOf(repository: string): string {
  const slash = repository.indexOf('/');
  return slash === -1 ? repository : repository.slice(0, slash);
}

/** The project an event concerns, for per-project webhook policies; undefined for registry-wide events. */
export function eventProject(event: RegistryEvent): string | undefined {
  return (
    event.target.project ?? (event.target.repository === undefined ? undefined : projectOf(event.target.repository))
  );
}
