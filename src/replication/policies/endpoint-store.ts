import type { Kysely, Selectable } from 'kysely';
import type { Database, ReplicationRegistriesTable } from '../../metadata/schema.ts';
import type { RegistryEndpoint } from './replication-model.ts';

type Row = Selectable<ReplicationRegistriesTable>;

export interface EndpointFields {
  name: string;
  url: string;
  description: string;
  credential: { type: 'basic'; accessKey: string; sealedSecret: string | undefined } | { type: 'none' };
  caCertificate: string | undefined;
  insecure: boolean;
}

/** The replication_registries table. */
export class EndpointStore {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<RegistryEndpoint[]> {
    const rows = await this.db.selectFrom('replication_registries').selectAll().orderBy('id').execute();
    return rows.map(toEndpoint);
  }

  async find(id: number): Promise<RegistryEndpoint | undefined> {
    const row = await this.row(id);
    return row && toEndpoint(row);
  }

  async findByName(name: string): Promise<RegistryEndpoint | undefined> {
    const row = await this.db
      .selectFrom('replication_registries')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toEndpoint(row);
  }

  /** The sealed secret of an endpoint, for the connection that needs it. */
  async sealedSecret(id: number): Promise<string | undefined> {
    return (await this.row(id))?.access_secret ?? undefined;
  }

  async create(fields: EndpointFields): Promise<number> {
    const now = Date.now();
    const row = await this.db
      .insertInto('replication_registries')
      .values({ ...columns(fields), created_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async update(id: number, fields: EndpointFields): Promise<boolean> {
    const result = await this.db
      .updateTable('replication_registries')
      .set({ ...columns(fields), updated_at: Date.now() })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('replication_registries').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Names of the policies that use the endpoint, which must go before it can. */
  async policiesUsing(id: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('replication_policies')
      .select('name')
      .where((eb) => eb.or([eb('src_registry_id', '=', id), eb('dest_registry_id', '=', id)]))
      .orderBy('name')
      .execute();
    return rows.map((row) => row.name);
  }

  private row(id: number): Promise<Row | undefined> {
    return this.db.selectFrom('replication_registries').selectAll().where('id', '=', id).executeTakeFirst();
  }
}

function columns(fields: EndpointFields) {
  return {
    name: fields.name,
    url: fields.url,
    description: fields.description,
    credential_type: fields.credential.type,
    access_key: fields.credential.type === 'basic' ? fields.credential.accessKey : null,
    access_secret: fields.credential.type === 'basic' ? (fields.credential.sealedSecret ?? null) : null,
    ca_certificate: fields.caCertificate ?? null,
    insecure: fields.insecure ? 1 : 0,
  };
}

function toEndpoint(row: Row): RegistryEndpoint {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    description: row.description,
    credential:
      row.credential_type === 'basic'
        ? { type: 'basic', accessKey: row.access_key ?? '', hasSecret: row.access_secret !== null }
        : { type: 'none' },
    caCertificate: row.ca_certificate ?? undefined,
    insecure: row.insecure === 1,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
