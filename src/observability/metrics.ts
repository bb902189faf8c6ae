import { Counter, collectDefaultMetrics, exponentialBuckets, Gauge, Histogram, Registry } from 'prom-client';
import { MediaTypes } from '../oci/media-types.ts';
import { type StorageDriver, StorageNotFoundError } from '../storage/driver.ts';

/** One finished HTTP request, as the metrics record it. */
export interface HttpRequestObservation {
  method: string;
  /** A route name of bounded cardinality (`blob`, `manifest`, ...), never a raw URL. */
  handler: string;
  status: number;
  durationSeconds: number;
  requestBytes: number;
  responseBytes: number;
}

export interface Metrics {
  /** The process's one metrics registry; `/metrics` renders it. */
  readonly registry: Registry;
  /** Marks a request as in flight; call the returned function exactly once when it ends. */
  trackInFlight(handler: string): () => void;
  observeHttpRequest(observation: HttpRequestObservation): void;
  /**
   * Counts a storage action and starts its timer; call the returned function when the action ends,
   * with the error it failed with, if any (a missing blob is an answer, not an error).
   */
  startStorageAction(driver: string, action: string): (error?: unknown) => void;
  /** A blob upload committed: its size, and the time since its first request. */
  observeBlobUpload(sizeBytes: number, durationSeconds: number): void;
  /** A manifest pushed (201) or pulled (GET answered 200), by its media type. */
  countManifest(operation: 'push' | 'pull', mediaType: string): void;
  /** A failed authentication, by why it failed (`invalid_credentials`, `locked_out`, ...). */
  countAuthFailure(reason: string): void;
  /** Audit log entries written, deleted past the retention, or dropped because the queue was full. */
  countAuditEntries(event: 'written' | 'purged' | 'dropped', count: number): void;
  /** Reads the TLS server certificate's expiry (epoch seconds) at every scrape. */
  reportTlsCertificateExpiry(read: () => number | undefined): void;
  /** Garbage collection's counts and review queues (`wharf_gc_*`). */
  readonly gc: GcMetrics;
  /** Event deliveries and the outbox (`wharf_webhook_*`, `wharf_events_*`). */
  readonly events: EventMetrics;
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>;
  readonly contentType: string;
}

/** Request durations range from a cached HEAD (~1 ms) to a multi-gigabyte layer transfer. */
const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** 256 B (a small manifest) to 1 GiB (a large layer), in powers of four. */
const sizeBuckets = exponentialBuckets(256, 4, 12);
const storageDurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A whole blob upload, first request to commit: a small layer on a LAN to a large one over a slow link. */
const uploadDurationBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** The manifest media types that get a label value of their own; anything else counts as `other`. */
const manifestMediaTypes: ReadonlySet<string> = new Set([
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerSchema1,
  MediaTypes.dockerSchema1Signed,
]);

/**
 * The registry's metrics under Distribution's names, so dashboards and alerts written for
 * `registry:2` keep working, plus Node's process metrics.
 */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const requests = new Counter({
    name: 'registry_http_requests_total',
    help: 'Total number of HTTP requests made.',
    labelNames: ['method', 'handler', 'code'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: 'registry_http_request_duration_seconds',
    help: 'The HTTP request latencies in seconds.',
    labelNames: ['method', 'handler'] as const,
    buckets: durationBuckets,
    registers,
  });
  const inFlight = new Gauge({
    name: 'registry_http_in_flight_requests',
    help: 'The in-flight HTTP requests.',
    labelNames: ['handler'] as const,
    registers,
  });
  const requestSize = new Histogram({
    name: 'registry_http_request_size_bytes',
    help: 'The HTTP request sizes in bytes (declared Content-Length of the body).',
    labelNames: ['handler'] as const,
    buckets: sizeBuckets,
    registers,
  });
  const responseSize = new Histogram({
    name: 'registry_http_response_size_bytes',
    help: 'The HTTP response sizes in bytes.',
    labelNames: ['handler'] as const,
    buckets: sizeBuckets,
    registers,
  });
  const storageActions = new Counter({
    name: 'registry_storage_action_total',
    help: 'The number of storage driver actions.',
    labelNames: ['driver', 'action'] as const,
    registers,
  });
  const storageDuration = new Histogram({
    name: 'registry_storage_action_seconds',
    help: 'The number of seconds that the storage action takes.',
    labelNames: ['driver', 'action'] as const,
    buckets: storageDurationBuckets,
    registers,
  });
  const storageErrors = new Counter({
    name: 'wharf_storage_errors_total',
    help: 'Storage driver actions that failed (a missing blob or upload is not counted).',
    labelNames: ['driver', 'action'] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: 'wharf_http_rate_limited_requests_total',
    help: 'Requests answered 429 Too Many Requests (failed-login lockouts included).',
    labelNames: ['handler'] as const,
    registers,
  });
  const uploadSize = new Histogram({
    name: 'wharf_blob_upload_size_bytes',
    help: 'Sizes of committed blob uploads.',
    buckets: sizeBuckets,
    registers,
  });
  const uploadDuration = new Histogram({
    name: 'wharf_blob_upload_duration_seconds',
    help: 'Time from the first request of a blob upload to its commit.',
    buckets: uploadDurationBuckets,
    registers,
  });
  const manifestPushes = new Counter({
    name: 'wharf_manifest_pushes_total',
    help: 'Manifests pushed, by media type.',
    labelNames: ['media_type'] as const,
    registers,
  });
  const manifestPulls = new Counter({
    name: 'wharf_manifest_pulls_total',
    help: 'Manifests pulled (GET answered 200), by media type.',
    labelNames: ['media_type'] as const,
    registers,
  });
  const authFailures = new Counter({
    name: 'wharf_auth_failures_total',
    help: 'Failed authentications, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const auditCounters = {
    written: new Counter({ name: 'wharf_audit_entries_written_total', help: 'Audit log entries stored.', registers }),
    purged: new Counter({
      name: 'wharf_audit_entries_purged_total',
      help: 'Audit log entries deleted past audit.retention.',
      registers,
    }),
    dropped: new Counter({
      name: 'wharf_audit_entries_dropped_total',
      help: 'Audit log entries lost because the write queue was full (the database was unavailable).',
      registers,
    }),
  };
  let tlsExpiry: (() => number | undefined) | undefined;
  new Gauge({
    name: 'wharf_tls_certificate_expiry_timestamp_seconds',
    help: 'When the TLS server certificate in use expires, in seconds since the Unix epoch.',
    labelNames: ['certificate'] as const,
    registers,
    collect() {
      const expiry = tlsExpiry?.();
      if (expiry !== undefined) this.set({ certificate: 'server' }, expiry);
    },
  });
  collectDefaultMetrics({ register: registry });

  return {
    registry,
    contentType: registry.contentType,
    trackInFlight(handler) {
      inFlight.inc({ handler });
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        inFlight.dec({ handler });
      };
    },
    observeHttpRequest({ method, handler, status, durationSeconds, requestBytes, responseBytes }) {
      requests.inc({ method, handler, code: String(status) });
      if (status === 429) rateLimited.inc({ handler });
      requestDuration.observe({ method, handler }, durationSeconds);
      requestSize.observe({ handler }, requestBytes);
      responseSize.observe({ handler }, responseBytes);
    },
    startStorageAction(driver, action) {
      storageActions.inc({ driver, action });
      const stopTimer = storageDuration.startTimer({ driver, action });
      return (error) => {
        stopTimer();
        if (error !== undefined && !(error instanceof StorageNotFoundError)) storageErrors.inc({ driver, action });
      };
    },
    observeBlobUpload(sizeBytes, durationSeconds) {
      uploadSize.observe(sizeBytes);
      uploadDuration.observe(durationSeconds);
    },
    countManifest(operation, mediaType) {
      const label = manifestMediaTypes.has(mediaType) ? mediaType : 'other';
      (operation === 'push' ? manifestPushes : manifestPulls).inc({ media_type: label });
    },
    countAuthFailure(reason) {
      authFailures.inc({ reason });
    },
    countAuditEntries(event, count) {
      if (count > 0) auditCounters[event].inc(count);
    },
    reportTlsCertificateExpiry(read) {
      tlsExpiry = read;
    },
    gc: createGcMetrics(registers),
    events: createEventMetrics(registers),
    render: () => registry.metrics(),
  };
}

/** What one garbage collection run did. */
export interface GcRunCounts {
  blobsDeleted: number;
  bytesDeleted: number;
  manifestsDeleted: number;
}

export interface GcMetrics {
  observeRun(counts: GcRunCounts): void;
  /** The review queue's rows, how many are due, and how long the oldest due one has waited. */
  setReviewQueue(queue: 'blob' | 'manifest', depth: number, due: number, oldestDueAgeSeconds: number): void;
}

function createGcMetrics(registers: Registry[]): GcMetrics {
  const runs = new Counter({ name: 'wharf_gc_runs_total', help: 'Online garbage collection runs.', registers });
  const blobs = new Counter({
    name: 'wharf_gc_blobs_deleted_total',
    help: 'Blobs deleted by online garbage collection.',
    registers,
  });
  const bytes = new Counter({
    name: 'wharf_gc_bytes_deleted_total',
    help: 'Bytes of the blobs deleted by online garbage collection.',
    registers,
  });
  const manifests = new Counter({
    name: 'wharf_gc_manifests_deleted_total',
    help: 'Untagged manifests deleted by online garbage collection (gc.deleteuntagged).',
    registers,
  });
  const labelNames = ['queue'] as const;
  const depth = new Gauge({
    name: 'wharf_gc_review_queue_depth',
    help: 'Reviews queued, due or not.',
    labelNames,
    registers,
  });
  const due = new Gauge({ name: 'wharf_gc_review_queue_due', help: 'Reviews that are due.', labelNames, registers });
  const oldest = new Gauge({
    name: 'wharf_gc_review_queue_oldest_due_age_seconds',
    help: 'How long the oldest due review has been due; 0 when none is.',
    labelNames,
    registers,
  });
  return {
    observeRun(counts) {
      runs.inc();
      if (counts.blobsDeleted > 0) blobs.inc(counts.blobsDeleted);
      if (counts.bytesDeleted > 0) bytes.inc(counts.bytesDeleted);
      if (counts.manifestsDeleted > 0) manifests.inc(counts.manifestsDeleted);
    },
    setReviewQueue(queue, queued, dueNow, ageSeconds) {
      depth.set({ queue }, queued);
      due.set({ queue }, dueNow);
      oldest.set({ queue }, ageSeconds);
    },
  };
}

/** The outbox as the metrics show it, read from the database at each scrape. */
export interface OutboxFigures {
  pending: number;
  dead: number;
  /** How long the oldest pending delivery has waited; 0 when none is pending. */
  oldestPendingAgeSeconds: number;
}

export interface EventMetrics {
  /**
   * One delivery request to an `endpoint` or a `webhook`, counted for each of the `events` it
   * carried: `result` is `success` or why it failed (`http_4xx`, `http_5xx`, `timeout`, `network`).
   */
  observeDelivery(subscriber: string, result: string, events: number, durationSeconds: number): void;
  countDeadLetters(subscriber: string, count: number): void;
  countDroppedPulls(count: number): void;
  reportOutbox(read: () => Promise<OutboxFigures>): void;
}

function createEventMetrics(registers: Registry[]): EventMetrics {
  const deliveries = new Counter({
    name: 'wharf_webhook_deliveries_total',
    help: 'Event deliveries attempted, by subscriber kind (endpoint, webhook), outcome and failure reason.',
    labelNames: ['subscriber', 'outcome', 'reason'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'wharf_webhook_delivery_duration_seconds',
    help: 'Time from sending a delivery request to its answer (or its failure).',
    labelNames: ['subscriber'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const deadLetters = new Counter({
    name: 'wharf_webhook_dead_letters_total',
    help: 'Deliveries given up after notifications.delivery.maxattempts attempts.',
    labelNames: ['subscriber'] as const,
    registers,
  });
  const droppedPulls = new Counter({
    name: 'wharf_events_pull_dropped_total',
    help: 'Pull events lost because their write queue was full (the database was unavailable).',
    registers,
  });
  let outbox: (() => Promise<OutboxFigures>) | undefined;
  let figures: Promise<OutboxFigures | undefined> | undefined;
  // One query per scrape serves all three gauges.
  const read = () => {
    figures ??= (outbox?.() ?? Promise.resolve(undefined))
      .catch(() => undefined)
      .finally(() => setImmediate(() => (figures = undefined)));
    return figures;
  };
  const outboxGauge = (name: string, help: string, pick: (value: OutboxFigures) => number) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const value = await read();
        if (value !== undefined) this.set(pick(value));
      },
    });
  outboxGauge('wharf_events_outbox_pending', 'Deliveries waiting in the outbox (all instances).', (v) => v.pending);
  outboxGauge('wharf_events_outbox_dead', 'Dead letters in the outbox, waiting for redelivery.', (v) => v.dead);
  outboxGauge(
    'wharf_events_outbox_oldest_pending_age_seconds',
    'How long the oldest pending delivery has waited; 0 when none is pending.',
    (v) => v.oldestPendingAgeSeconds,
  );
  return {
    observeDelivery(subscriber, result, events, durationSeconds) {
      const outcome = result === 'success' ? 'success' : 'failure';
      deliveries.inc({ subscriber, outcome, reason: result === 'success' ? 'none' : result }, events);
      duration.observe({ subscriber }, durationSeconds);
    },
    countDeadLetters(subscriber, count) {
      if (count > 0) deadLetters.inc({ subscriber }, count);
    },
    countDroppedPulls(count) {
      if (count > 0) droppedPulls.inc(count);
    },
    reportOutbox(reader) {
      outbox = reader;
    },
  };
}

/** How each StorageDriver method returns; the Record makes the compiler flag a method added without a kind. */
const storageActionKinds: Record<Exclude<keyof StorageDriver, 'name'>, 'promise' | 'iterable'> = {
  statBlob: 'promise',
  readBlob: 'promise',
  sendBlob: 'promise',
  deleteBlob: 'promise',
  listBlobs: 'iterable',
  blobRedirectURL: 'promise',
  startUpload: 'promise',
  appendUpload: 'promise',
  statUpload: 'promise',
  readUpload: 'promise',
  commitUpload: 'promise',
  cancelUpload: 'promise',
  listUploads: 'iterable',
  purgeAbandonedWrites: 'promise',
  ping: 'promise',
};

type AnyMethod = (...args: unknown[]) => unknown;

/**
 * Wraps a driver so every action is counted and timed under labels driver=driver.name and
 * action=the method's name. A listing counts once per call and is timed until iteration ends.
 * Everything else (own fields, extra methods) passes through to the driver itself.
 */
export function instrumentStorage<T extends StorageDriver>(driver: T, metrics: Metrics): T {
  const wrapped = new Map<PropertyKey, AnyMethod>();
  return new Proxy(driver, {
    get(target, property) {
      // The driver as receiver keeps getters and #private fields working through the proxy.
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const cached = wrapped.get(property);
      if (cached) return cached;
      const method = value as AnyMethod;
      const kind =
        typeof property === 'string' ? storageActionKinds[property as keyof typeof storageActionKinds] : undefined;
      const wrapper: AnyMethod =
        kind === 'promise'
          ? timedPromise(method, target, metrics, property as string)
          : kind === 'iterable'
            ? timedIterable(method, target, metrics, property as string)
            : (...args) => method.apply(target, args);
      wrapped.set(property, wrapper);
      return wrapper;
    },
  });
}

function timedPromise(method: AnyMethod, driver: StorageDriver, metrics: Metrics, action: string): AnyMethod {
  return async (...args) => {
    const done = metrics.startStorageAction(driver.name, action);
    try {
      const result = await method.apply(driver, args);
      done();
      return result;
    } catch (error) {
      done(error);
      throw error;
    }
  };
}

function timedIterable(method: AnyMethod, driver: StorageDriver, metrics: Metrics, action: string): AnyMethod {
  return (...args) => {
    const done = metrics.startStorageAction(driver.name, action);
    let source: AsyncIterable<unknown>;
    try {
      source = method.apply(driver, args) as AsyncIterable<unknown>;
    } catch (error) {
      done(error);
      throw error;
    }
    return (async function* () {
      let failure: unknown;
      try {
        yield* source;
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        done(failure);
      }
    })();
  };
}
