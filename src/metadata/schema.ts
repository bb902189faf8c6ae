import type { Generated, Insertable, Selectable } from 'kysely';

/** The metadata tables, as Kysely sees them. Timestamps are epoch milliseconds. */
export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_blobs: ManifestBlobsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
  webhook_policies: WebhookPoliciesTable;
  event_outbox: EventOutboxTable;
  event_deliveries: EventDeliveriesTable;
  storage_usage: StorageUsageTable;
  immutability_rules: ImmutabilityRulesTable;
  retention_policies: RetentionPoliciesTable;
  retention_runs: RetentionRunsTable;
  retention_run_artifacts: RetentionRunArtifactsTable;
  replication_registries: ReplicationRegistriesTable;
  replication_policies: ReplicationPoliciesTable;
  replication_executions: ReplicationExecutionsTable;
  replication_tasks: ReplicationTasksTable;
  replication_triggers: ReplicationTriggersTable;
  audit_logs: AuditLogsTable;
  gc_blob_reviews: GcBlobReviewsTable;
  gc_manifest_reviews: GcManifestReviewsTable;
  proxy_projects: ProxyProjectsTable;
  proxy_tag_checks: ProxyTagChecksTable;
}

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

/** Blobs whose bytes are committed in storage, once per digest. */
export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
  /** When garbage collection began deleting the bytes (migration 005); null while the blob is live. */
  deleting_since: number | null;
}

/** Which repositories may serve which blobs (a push or a mount links them). */
export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: number;
}

export interface ManifestsTable {
  id: Generated<number>;
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: number;
  /** The bytes exactly as pushed. */
  payload: Uint8Array;
  subject_digest: string | null;
  /** JSON of the manifest's own annotations, for the referrers API. */
  annotations: string | null;
  created_at: number;
  /** When it was last pulled (GET), recorded at most once a minute (migration 006). */
  pulled_at: number | null;
}

export interface ManifestBlobsTable {
  manifest_id: number;
  digest: string;
}

/** An index's children, by digest: a child may be deleted while an index still names it. */
export interface ManifestReferencesTable {
  parent_id: number;
  child_digest: string;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_id: number;
  updated_at: number;
}

export interface UploadsTable {
  id: string;
  repository: string;
  started_at: number;
}

export type RepositoryRow = Selectable<RepositoriesTable>;
export type ManifestRow = Selectable<ManifestsTable>;
export type NewManifest = Insertable<ManifestsTable>;

/** One audited action (migration 008); src/events/audit/audit-entry.ts describes the columns. */
export interface AuditLogsTable {
  id: Generated<number>;
  occurred_at: number;
  actor_name: string;
  actor_kind: string;
  source_address: string | null;
  user_agent: string | null;
  request_id: string | null;
  action: string;
  resource_type: string;
  resource: string;
  project: string | null;
  repository: string | null;
  outcome: string;
  status: number | null;
  method: string | null;
  route: string | null;
  /** JSON of an object, or null. */
  detail: string | null;
}

/** A remote registry that replication policies push to or pull from (migration 009). */
export interface ReplicationRegistriesTable {
  id: Generated<number>;
  name: string;
  url: string;
  description: string;
  /** `basic` (access_key + access_secret) or `none`. */
  credential_type: string;
  access_key: string | null;
  /** Encrypted (src/replication/policies/secret-box.ts); never leaves the server. */
  access_secret: string | null;
  ca_certificate: string | null;
  insecure: number;
  created_at: number;
  updated_at: number;
}

export interface ReplicationPoliciesTable {
  id: Generated<number>;
  name: string;
  description: string;
  enabled: number;
  /** Set for pull-mode policies (the remote is the source). */
  src_registry_id: number | null;
  /** Set for push-mode policies (the remote is the destination). */
  dest_registry_id: number | null;
  /** JSON array of {type, value, decoration}. */
  filters: string;
  dest_namespace: string | null;
  dest_namespace_replace_count: number;
  trigger_type: string;
  cron: string | null;
  override: number;
  deletion: number;
  concurrency: number;
  /** Bytes per second for a whole execution; 0 for no limit. */
  speed: number;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

export interface ReplicationExecutionsTable {
  id: Generated<number>;
  policy_id: number;
  status: string;
  trigger: string;
  trigger_key: string | null;
  status_text: string;
  stop_requested: Generated<number>;
  instance: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  heartbeat_at: number | null;
}

export interface ReplicationTasksTable {
  id: Generated<number>;
  execution_id: number;
  operation: string;
  src_resource: string;
  dst_resource: string;
  digest: string | null;
  status: string;
  attempts: Generated<number>;
  bytes: Generated<number>;
  error: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
}

/** A push or delete waiting to become a task of an event-based policy's execution. */
export interface ReplicationTriggersTable {
  id: Generated<number>;
  policy_id: number;
  operation: string;
  repository: string;
  reference: string;
  digest: string | null;
  created_at: number;
}

/** A blob whose references garbage collection checks once `review_after` has passed (migration 005). */
export interface GcBlobReviewsTable {
  digest: string;
  review_after: number;
  /** The change that queued the review, e.g. `manifest.deleted`. */
  event: string;
  queued_at: number;
}

/** A manifest that may have become untagged garbage (with gc.deleteuntagged). */
export interface GcManifestReviewsTable {
  manifest_id: number;
  review_after: number;
  event: string;
  queued_at: number;
}

/** Bytes and artifacts held by a project (`project:<name>`) or the registry (`registry`); migration 006. */
export interface StorageUsageTable {
  scope: string;
  bytes: number;
  artifacts: number;
  updated_at: number;
}

/** A project's rule naming tags that may be neither moved nor deleted; decorations are `matches` or `excludes`. */
export interface ImmutabilityRulesTable {
  id: Generated<number>;
  project_id: number;
  repository_pattern: string;
  repository_decoration: string;
  tag_pattern: string;
  tag_decoration: string;
  disabled: number;
  created_at: number;
  created_by: string | null;
}

/** A project's retention rules (JSON, src/policy/retention/retention-rules.ts) and cron schedule. */
export interface RetentionPoliciesTable {
  project_id: number;
  rules: string;
  schedule: string | null;
  updated_at: number;
  updated_by: string | null;
}

export interface RetentionRunsTable {
  id: Generated<number>;
  project_id: number;
  trigger: string;
  dry_run: number;
  status: string;
  triggered_by: string | null;
  scheduled_for: number | null;
  started_at: number;
  finished_at: number | null;
  total: Generated<number>;
  retained: Generated<number>;
  deleted: Generated<number>;
  failed: Generated<number>;
  bytes_freed: Generated<number>;
  error: string | null;
  /** Renewed while the run lasts (null for runs recorded before heartbeats). */
  heartbeat_at: number | null;
}

/** What a retention run deleted (or, dry, would delete), artifact by artifact. */
export interface RetentionRunArtifactsTable {
  run_id: number;
  repository: string;
  digest: string;
  /** JSON array of the tag names it had. */
  tags: string;
  size: number;
  outcome: string;
  error: string | null;
}

/** A project's webhook policy (migration 007); src/events/webhooks/webhook-policy.ts describes it. */
export interface WebhookPoliciesTable {
  id: Generated<number>;
  project_id: number;
  name: string;
  description: string;
  url: string;
  /** `harbor` or `cloudevents`. */
  format: string;
  /** JSON array of webhook event types (`PUSH_ARTIFACT`, ...). */
  event_types: string;
  /** Sent as the Authorization header. Kept as given: it is sent, so it cannot be hashed. */
  auth_header: string | null;
  /** The HMAC-SHA256 key for the signature header; never returned by the API. */
  secret: string | null;
  skip_cert_verify: number;
  enabled: number;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

/** An event waiting for (or kept after) its deliveries (migration 007). */
export interface EventOutboxTable {
  /** The event's UUID: what receivers deduplicate on. */
  id: string;
  action: string;
  project: string | null;
  occurred_at: number;
  /** The event as JSON (src/events/event.ts). */
  payload: string;
}

/** One event for one subscriber: `endpoint:<name>` (notifications.endpoints) or `webhook:<id>`. */
export interface EventDeliveriesTable {
  id: Generated<number>;
  event_id: string;
  subscriber: string;
  webhook_id: number | null;
  /** `pending`, `delivered` or `dead` (attempts exhausted). */
  state: string;
  attempts: number;
  next_attempt_at: number;
  /** The instance working on it until `lease_until`; another may take it once that has passed. */
  lease_owner: string | null;
  lease_until: number;
  last_status: number | null;
  last_error: string | null;
  last_latency_ms: number | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

/** A project that is a pull-through cache of an upstream registry (migration 010). */
export interface ProxyProjectsTable {
  project_id: number;
  url: string;
  username: string | null;
  /** Encrypted (src/replication/policies/secret-box.ts); never leaves the server. */
  password: string | null;
  ca_certificate: string | null;
  insecure: number;
  tag_ttl_ms: number;
  remote_namespace: string | null;
  created_at: number;
  updated_at: number;
  updated_by: string | null;
}

/** When the upstream last confirmed the digest a cached tag names (migration 010). */
export interface ProxyTagChecksTable {
  repository: string;
  tag: string;
  digest: string;
  checked_at: number;
}
