import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import type { JobLocks } from '../coordination/job-lock.ts';
import { DeliveryWorker } from '../events/delivery/delivery-worker.ts';
import { HttpDelivery } from '../events/delivery/http-delivery.ts';
import { RepositoryFactsReader } from '../events/delivery/repository-facts.ts';
import { endpointSubscribers } from '../events/endpoint-subscribers.ts';
import { EventFactory } from '../events/event-factory.ts';
import { EventPublisher } from '../events/event-publisher.ts';
import type { EventsAdministration } from '../events/events-administration.ts';
import { InstanceIdentity } from '../events/instance-identity.ts';
import { scheduleOutboxPurging } from '../events/outbox/outbox-purger.ts';
import { OutboxStore } from '../events/outbox/outbox-store.ts';
import { PullRecorder } from '../events/pull-recorder.ts';
import { SubscriberDirectory } from '../events/subscriber-directory.ts';
import { WebhookPolicyStore } from '../events/webhooks/webhook-policy-store.ts';
import type { ApiRoute } from '../http/api/api-route.ts';
import { notificationRoutes } from '../http/api/notification-routes.ts';
import { ProjectAccess } from '../http/api/project-access.ts';
import { webhookRoutes } from '../http/api/webhook-routes.ts';
import { registerEventHooks } from '../http/event-hooks.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { ProjectStore } from '../metadata/project-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { RegistryError } from '../oci/errors.ts';

export interface EventsDependencies {
  /** The store every write goes through (not a cache in front of it): its changes become events. */
  metadata: MetadataStore;
  logger: Logger;
  metrics: Metrics;
  /** Which instance purges the outbox each period. */
  locks: JobLocks;
  /** The registry's version, for the User-Agent of deliveries. */
  version: string;
}

export interface ComposedEvents {
  /** For features that publish events which are not metadata changes (GC, retention, quotas, ...). */
  publisher: EventPublisher;
  administration: EventsAdministration;
  /** Webhook policies and notification endpoints below /api/v1 (projects mode). */
  apiRoutes: readonly ApiRoute[];
  /**
   * Registers the outbox's listener on the metadata store: events of every committed change. Call
   * after the listeners that may refuse a write, so a refused write writes no outbox rows first.
   */
  listen(): void;
  /** Pull events, failed logins, projects created and deleted, seen by the HTTP layer. */
  registerHooks(app: FastifyInstance): void;
  /** Starts delivering, once the server listens on `port`. */
  start(port: number): void;
  /** Writes queued pull events and lets deliveries in flight finish; call after the server closed. */
  close(): Promise<void>;
}

/** Poll interval of the delivery workers; new events on this instance wake them at once. */
const pollIntervalMs = 500;

/** The event outbox, its delivery workers and what feeds them (docs/events.md). */
export function composeEvents(config: Config, deps: EventsDependencies): ComposedEvents {
  const { logger, metrics } = deps;
  const db = deps.metadata.db;
  const settings = config.notifications;
  const instance = new InstanceIdentity(settings.instanceid);
  const outbox = new OutboxStore(db);
  const policies = new WebhookPolicyStore(db);
  // Webhook policies belong to projects: without projects mode there are none to look up on each write.
  const directory = new SubscriberDirectory(
    endpointSubscribers(settings.endpoints),
    config.auth.projects.enabled ? policies : undefined,
    { timeoutMs: settings.delivery.timeout },
  );
  const http = new HttpDelivery(`wharf/${deps.version}`);
  const worker = new DeliveryWorker(outbox, directory, http, new RepositoryFactsReader(db), metrics.events, logger, {
    owner: `${instance.instanceID}/${randomUUID().slice(0, 8)}`,
    workers: settings.delivery.workers,
    maxAttempts: settings.delivery.maxattempts,
    retry: { initialDelayMs: settings.delivery.retrydelay, maxDelayMs: settings.delivery.maxretrydelay },
    batchSize: settings.delivery.batchsize,
    pollIntervalMs,
  });
  const publisher = new EventPublisher(db, outbox, directory, new EventFactory(instance, config.http.host), () =>
    worker.wakeSoon(),
  );
  const pulls = settings.pulls.enabled
    ? new PullRecorder(db, publisher, logger, {
        flushIntervalMs: settings.pulls.flushinterval,
        onDropped: (count) => metrics.events.countDroppedPulls(count),
      })
    : undefined;
  metrics.events.reportOutbox(async () => {
    const stats = await outbox.stats();
    const age = stats.oldestPendingAt === undefined ? 0 : Math.max(0, (Date.now() - stats.oldestPendingAt) / 1000);
    return { pending: stats.pending, dead: stats.dead, oldestPendingAgeSeconds: age };
  });

  const administration: EventsAdministration = {
    policies,
    outbox,
    endpoints: directory.endpoints,
    wake: () => worker.wake(),
  };
  // Every route here requires authentication, so the access check never needs the challenge.
  const access = new ProjectAccess(new ProjectStore(db), (message) => new RegistryError('UNAUTHORIZED', message));
  let stopPurging = () => {};

  return {
    publisher,
    administration,
    apiRoutes: [...webhookRoutes(access, administration), ...notificationRoutes(administration)],
    listen() {
      deps.metadata.addChangeListener(publisher.changeListener());
    },
    registerHooks(app) {
      registerEventHooks(app, { publisher, pulls, blobPulls: settings.pulls.blobs, logger });
    },
    start(port) {
      instance.listeningOn(port);
      worker.start();
      stopPurging = scheduleOutboxPurging(
        outbox,
        settings.delivery.retention,
        directory.endpoints.map((endpoint) => endpoint.key),
        deps.locks,
        logger,
      );
    },
    async close() {
      stopPurging();
      await pulls?.close();
      await worker.stop();
      await http.close();
    },
  };
}
