import type { Kysely } from 'kysely';
import type { Database } from '../metadata/schema.ts';
import { chunked, inProject } from './project-scope.ts';

export interface RepositorySummary {
  name: string;
  artifactCount: number;
  tagCount: number;
  createdAt: number;
  /** The last push: of a manifest, or of a tag. */
  updatedAt: number;
}

/** A manifest in a repository, as the API lists it and retention judges it. */
export interface Artifact {
  id: number;
  repository: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  subjectDigest: string | null;
  tags: string[];
  /** The manifests an index names. */
  childDigests: string[];
  /** When it was last pushed: first stored, or last tagged (a tag pushed again counts). */
  pushedAt: number;
  pulledAt: number | null;
}

/** Repositories and artifacts of projects, for the management API and retention. */
export class ArtifactInventory {
  constructor(private readonly db: Kysely<Database>) {}

  /** A page of the project's repositories that hold at least one manifest (as the catalog lists them), by name. */
  async listRepositories(
    project: string,
    page: { offset: number; limit: number },
  ): Promise<{ total: number; repositories: RepositorySummary[] }> {
    const count = await this.withManifests(project)
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .executeTakeFirstOrThrow();
    const rows = await this.summaries(
      this.withManifests(project).orderBy('repositories.name').limit(page.limit).offset(page.offset),
    );
    return { total: Number(count.count), repositories: rows };
  }

  async findRepository(name: string): Promise<RepositorySummary | undefined> {
    const rows = await this.summaries(
      this.db
        .selectFrom('repositories')
        .where('repositories.name', '=', name)
        .where((eb) =>
          eb.exists(
            eb.selectFrom('manifests').select('id').whereRef('manifests.repository_id', '=', 'repositories.id'),
          ),
        ),
    );
    return rows[0];
  }

  /** Every repository of the project, those holding only blobs included, by name. */
  async repositoryNames(project: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('repositories')
      .select('repositories.name')
      .where((eb) => inProject(eb, project))
      .orderBy('repositories.name')
      .execute();
    return rows.map((row) => row.name);
  }

  /** A page of the repository's artifacts, most recently stored first. */
  async listArtifacts(
    repository: string,
    page: { offset: number; limit: number },
  ): Promise<{ total: number; artifacts: Artifact[] }> {
    const count = await this.manifestsOf(repository)
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .executeTakeFirstOrThrow();
    const artifacts = await this.load(repository, page);
    return { total: Number(count.count), artifacts };
  }

  /** Every artifact of the repository. */
  artifactsOf(repository: string): Promise<Artifact[]> {
    return this.load(repository, undefined);
  }

  /** The blobs each of the manifests references, by manifest id. */
  async blobDigestsOf(manifestIds: readonly number[]): Promise<Map<number, string[]>> {
    const result = new Map<number, string[]>();
    for (const chunk of chunked(manifestIds)) {
      const rows = await this.db
        .selectFrom('manifest_blobs')
        .select(['manifest_id', 'digest'])
        .where('manifest_id', 'in', chunk)
        .execute();
      for (const row of rows) result.set(row.manifest_id, [...(result.get(row.manifest_id) ?? []), row.digest]);
    }
    return result;
  }

  private async load(repository: string, page: { offset: number; limit: number } | undefined): Promise<Artifact[]> {
    let query = this.manifestsOf(repository)
      .select([
        'manifests.id',
        'manifests.digest',
        'manifests.media_type',
        'manifests.artifact_type',
        'manifests.size',
        'manifests.subject_digest',
        'manifests.created_at',
        'manifests.pulled_at',
      ])
      .orderBy('manifests.created_at', 'desc')
      .orderBy('manifests.id', 'desc');
    if (page) query = query.limit(page.limit).offset(page.offset);
    const rows = await query.execute();
    const ids = rows.map((row) => row.id);
    const tags = new Map<number, { name: string; updatedAt: number }[]>();
    const children = new Map<number, string[]>();
    for (const chunk of chunked(ids)) {
      const [tagRows, childRows] = await Promise.all([
        this.db
          .selectFrom('tags')
          .select(['manifest_id', 'name', 'updated_at'])
          .where('manifest_id', 'in', chunk)
          .execute(),
        this.db
          .selectFrom('manifest_references')
          .select(['parent_id', 'child_digest'])
          .where('parent_id', 'in', chunk)
          .execute(),
      ]);
      for (const row of tagRows) {
        tags.set(row.manifest_id, [
          ...(tags.get(row.manifest_id) ?? []),
          { name: row.name, updatedAt: Number(row.updated_at) },
        ]);
      }
      for (const row of childRows)
        children.set(row.parent_id, [...(children.get(row.parent_id) ?? []), row.child_digest]);
    }
    return rows.map((row) => {
      const own = (tags.get(row.id) ?? []).sort((a, b) => (a.name < b.name ? -1 : 1));
      return {
        id: row.id,
        repository,
        digest: row.digest,
        mediaType: row.media_type,
        artifactType: row.artifact_type,
        size: Number(row.size),
        subjectDigest: row.subject_digest,
        tags: own.map((tag) => tag.name),
        childDigests: children.get(row.id) ?? [],
        pushedAt: Math.max(Number(row.created_at), ...own.map((tag) => tag.updatedAt)),
        pulledAt: row.pulled_at === null ? null : Number(row.pulled_at),
      };
    });
  }

  private manifestsOf(repository: string) {
    return this.db
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .where('repositories.name', '=', repository);
  }

  private withManifests(project: string) {
    return this.db
      .selectFrom('repositories')
      .where((eb) => inProject(eb, project))
      .where((eb) =>
        eb.exists(eb.selectFrom('manifests').select('id').whereRef('manifests.repository_id', '=', 'repositories.id')),
      );
  }

  private async summaries(query: ReturnType<ArtifactInventory['withManifests']>): Promise<RepositorySummary[]> {
    const rows = await query
      .select((eb) => [
        'repositories.name',
        'repositories.created_at',
        eb
          .selectFrom('manifests')
          .select(eb.fn.countAll<number | string>().as('count'))
          .whereRef('manifests.repository_id', '=', 'repositories.id')
          .as('artifact_count'),
        eb
          .selectFrom('tags')
          .select(eb.fn.countAll<number | string>().as('count'))
          .whereRef('tags.repository_id', '=', 'repositories.id')
          .as('tag_count'),
        eb
          .selectFrom('manifests')
          .select((inner) => inner.fn.max<number | string>('manifests.created_at').as('latest'))
          .whereRef('manifests.repository_id', '=', 'repositories.id')
          .as('manifest_pushed_at'),
        eb
          .selectFrom('tags')
          .select((inner) => inner.fn.max<number | string>('tags.updated_at').as('latest'))
          .whereRef('tags.repository_id', '=', 'repositories.id')
          .as('tag_pushed_at'),
      ])
      .execute();
    return rows.map((row) => ({
      name: row.name,
      artifactCount: Number(row.artifact_count ?? 0),
      tagCount: Number(row.tag_count ?? 0),
      createdAt: Number(row.created_at),
      updatedAt: Math.max(Number(row.manifest_pushed_at ?? row.created_at), Number(row.tag_pushed_at ?? 0)),
    }));
  }
}
