import type { Kysely } from 'kysely';
import type { ProjectTables } from '../../metadata/project-store.ts';
import type { Database } from '../../metadata/schema.ts';
import { projectOf } from '../event.ts';
import type { RepositoryFacts } from './payloads/harbor-payload.ts';

/**
 * What Harbor's payload says about a repository besides its name: when it was created and whether
 * its project is public, read when the payload is rendered (one query each per batch).
 */
export class RepositoryFactsReader {
  private readonly db: Kysely<Database & ProjectTables>;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<ProjectTables>();
  }

  async read(repositories: readonly string[]): Promise<Map<string, RepositoryFacts>> {
    const facts = new Map<string, RepositoryFacts>();
    if (repositories.length === 0) return facts;
    const names = [...new Set(repositories)];
    const projectNames = [...new Set(names.map(projectOf))];
    const [created, projects] = await Promise.all([
      this.db.selectFrom('repositories').select(['name', 'created_at']).where('name', 'in', names).execute(),
      this.db.selectFrom('projects').select(['name', 'public']).where('name', 'in', projectNames).execute(),
    ]);
    const createdAt = new Map(created.map((row) => [row.name, Number(row.created_at)]));
    const visibility = new Map(projects.map((row) => [row.name, row.public === 1]));
    for (const name of names) {
      facts.set(name, { createdAt: createdAt.get(name), public: visibility.get(projectOf(name)) });
    }
    return facts;
  }
}
