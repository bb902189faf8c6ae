import type { Kysely, Transaction } from 'kysely';
import type { ChangeListener, MetadataChange } from '../metadata/metadata-changes.ts';
import type { Database } from '../metadata/schema.ts';
import { eventsOfChange } from './change-events.ts';
import { projectOf, type RegistryEvent } from './event.ts';
import type { EventFactory, NewEvent } from './event-factory.ts';
import type { OutboxStore } from './outbox/outbox-store.ts';
import type { Subscriber } from './subscriber.ts';
import type { SubscriberDirectory } from './subscriber-directory.ts';

/**
 * Puts events into the outbox for every subscriber that wants them. Metadata changes arrive through
 * `changeListener()`, inside the transaction of the change, so an event exists exactly when its
 * change committed. Everything else (a GC run, a failed login, a project) is published through
 * `publish`, in a transaction of its own, or `publishIn`, inside the caller's.
 */
export class EventPublisher {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly outbox: OutboxStore,
    private readonly subscribers: SubscriberDirectory,
    readonly factory: EventFactory,
    /** Told after deliveries were written, so a worker can look for them at once. */
    private readonly onRecorded: () => void = () => {},
  ) {}

  /** Records an event that is not a metadata change; resolves once it is in the outbox. */
  async publish(input: NewEvent): Promise<RegistryEvent> {
    const event = this.factory.create(input);
    await this.db.transaction().execute((trx) => this.record(trx, [event]));
    return event;
  }

  /** Records an event inside the caller's transaction: it exists only if that transaction commits. */
  async publishIn(trx: Transaction<Database>, input: NewEvent): Promise<RegistryEvent> {
    const event = this.factory.create(input);
    await this.record(trx, [event]);
    return event;
  }

  /** Writes events, each with a delivery for every subscriber that wants it; returns the deliveries written. */
  async record(trx: Transaction<Database>, events: readonly RegistryEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const candidates = await this.subscribers.candidates(trx, events);
    return this.write(trx, events, candidates);
  }

  /** The listener to register on the MetadataStore: events of every committed change. */
  changeListener(): ChangeListener {
    return async (trx, change) => {
      const events = eventsOfChange(change, this.factory);
      const candidates = await this.subscribers.candidates(trx, events);
      if (candidates.length === 0) return;
      const created = await this.repositoryCreated(trx, change, candidates);
      await this.write(trx, created ? [created, ...events] : events, candidates);
    };
  }

  private async write(
    trx: Transaction<Database>,
    events: readonly RegistryEvent[],
    candidates: readonly Subscriber[],
  ): Promise<number> {
    if (candidates.length === 0) return 0;
    const entries = events.map((event) => ({
      event,
      subscribers: candidates.filter((subscriber) => subscriber.wants(event)),
    }));
    const written = await this.outbox.insert(trx, entries);
    if (written > 0) this.onRecorded();
    return written;
  }

  /**
   * repository.created when the blob just linked is the first content of its repository, and
   * someone wants to hear it (the check costs a query).
   */
  private async repositoryCreated(
    trx: Transaction<Database>,
    change: MetadataChange,
    candidates: readonly Subscriber[],
  ): Promise<RegistryEvent | undefined> {
    if ((change.type !== 'blob.committed' && change.type !== 'blob.mounted') || !change.newInRepository) {
      return undefined;
    }
    const repository = change.repository;
    const event = this.factory.create({
      action: 'repository.created',
      target: { project: projectOf(repository), repository },
    });
    if (!candidates.some((subscriber) => subscriber.wants(event))) return undefined;
    const id = trx.selectFrom('repositories').select('id').where('name', '=', repository);
    const [blobs, manifests] = await Promise.all([
      trx.selectFrom('repository_blobs').select('digest').where('repository_id', '=', id).limit(2).execute(),
      trx.selectFrom('manifests').select('id').where('repository_id', '=', id).limit(1).execute(),
    ]);
    return blobs.length === 1 && manifests.length === 0 ? event : undefined;
  }
}
