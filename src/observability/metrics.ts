import { Counter, collectDefaultMetrics, exponentialBuckets, Gauge, Histogram, Registry } from 'prom-client';
import type { StorageDriver } from '../storage/driver.ts';

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
  /** Counts a storage action and starts its timer; call the returned function when the action ends. */
  startStorageAction(driver: string, action: string): () => void;
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>;
  readonly contentType: string;
}

/** Request durations range from a cached HEAD (~1 ms) to a multi-gigabyte layer transfer. */
const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** 256 B (a small manifest) to 1 GiB (a large layer), in powers of four. */
const sizeBuckets = exponentialBuckets(256, 4, 12);
const storageDurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

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
      requestDuration.observe({ method, handler }, durationSeconds);
      requestSize.observe({ handler }, requestBytes);
      responseSize.observe({ handler }, responseBytes);
    },
    startStorageAction(driver, action) {
      storageActions.inc({ driver, action });
      const stopTimer = storageDuration.startTimer({ driver, action });
      return () => {
        stopTimer();
      };
    },
    render: () => registry.metrics(),
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
      return await method.apply(driver, args);
    } finally {
      done();
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
      done();
      throw error;
    }
    return (async function* () {
      try {
        yield* source;
      } finally {
        done();
      }
    })();
  };
}
