import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../metadata/schema.ts';
import { compileSelector, type Decoration, describeSelector, nameInProject, type Selector } from '../selector.ts';

export interface ImmutabilityRule {
  id: number;
  project: string;
  repositories: Selector;
  tags: Selector;
  disabled: boolean;
  createdAt: number;
  createdBy: string | null;
}

export interface ImmutabilityRuleInput {
  repositories: Selector;
  tags: Selector;
  disabled: boolean;
}

/** The enabled rule that makes `repository:tag` immutable, if any. */
export type ImmutableTagTest = (repository: string, tag: string) => ImmutabilityRule | undefined;

type Executor = Kysely<Database> | Transaction<Database>;
/** The columns of `projects` (migration 003) these queries use. */
type ProjectColumns = { projects: { id: number; name: string } };

/**
 * How long a project's rules are used before they are read again. Rules change rarely; a change
 * made on this instance applies at once, one made on another instance within this time.
 */
export const immutabilityCacheMs = 5_000;

/** Per-project rules whose matching tags may be neither moved to another digest nor deleted. */
export class ImmutabilityRules {
  private readonly cache = new Map<string, { loadedAt: number; test: ImmutableTagTest }>();

  private readonly db: Kysely<Database & ProjectColumns>;

  constructor(
    private readonly database: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {
    this.db = database.withTables<ProjectColumns>();
  }

  async list(project: string): Promise<ImmutabilityRule[]> {
    return this.load(this.database, project);
  }

  async find(project: string, id: number): Promise<ImmutabilityRule | undefined> {
    return (await this.list(project)).find((rule) => rule.id === id);
  }

  async create(
    projectId: number,
    project: string,
    rule: ImmutabilityRuleInput,
    createdBy: string,
  ): Promise<ImmutabilityRule> {
    const inserted = await this.db
      .insertInto('immutability_rules')
      .values({ project_id: projectId, ...columnsOf(rule), created_at: this.now(), created_by: createdBy })
      .returning('id')
      .executeTakeFirstOrThrow();
    this.cache.delete(project);
    const created = await this.find(project, inserted.id);
    if (!created) throw new Error(`immutability rule ${inserted.id} vanished after its creation`);
    return created;
  }

  async update(project: string, id: number, rule: ImmutabilityRuleInput): Promise<ImmutabilityRule | undefined> {
    await this.db
      .updateTable('immutability_rules')
      .set(columnsOf(rule))
      .where('id', '=', id)
      .where('project_id', 'in', this.projectId(project))
      .execute();
    this.cache.delete(project);
    return this.find(project, id);
  }

  async delete(project: string, id: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('immutability_rules')
      .where('id', '=', id)
      .where('project_id', 'in', this.projectId(project))
      .executeTakeFirst();
    this.cache.delete(project);
    return Number(result.numDeletedRows) > 0;
  }

  /** Forgets what was read of the project (its rules changed, or it was deleted). */
  forget(project: string): void {
    this.cache.delete(project);
  }

  /**
   * Which tags of the project's repositories are immutable, read through `executor` (inside a write
   * transaction, its own) at most every immutabilityCacheMs.
   */
  async tagTest(executor: Executor, project: string): Promise<ImmutableTagTest> {
    const cached = this.cache.get(project);
    if (cached && this.now() - cached.loadedAt < immutabilityCacheMs) return cached.test;
    const loadedAt = this.now();
    const test = compileRules(await this.load(executor, project));
    this.cache.set(project, { loadedAt, test });
    return test;
  }

  private async load(executor: Executor, project: string): Promise<ImmutabilityRule[]> {
    const rows = await executor
      .withTables<ProjectColumns>()
      .selectFrom('immutability_rules')
      .innerJoin('projects', 'projects.id', 'immutability_rules.project_id')
      .selectAll('immutability_rules')
      .where('projects.name', '=', project)
      .orderBy('immutability_rules.id')
      .execute();
    return rows.map((row) => ({
      id: row.id,
      project,
      repositories: { pattern: row.repository_pattern, decoration: row.repository_decoration as Decoration },
      tags: { pattern: row.tag_pattern, decoration: row.tag_decoration as Decoration },
      disabled: row.disabled === 1,
      createdAt: Number(row.created_at),
      createdBy: row.created_by,
    }));
  }

  private projectId(project: string) {
    return this.db.selectFrom('projects').select('projects.id').where('projects.name', '=', project);
  }
}

/** `immutability rule 3 (repositories matching "**", tags matching "v*")`. */
export function describeImmutabilityRule(rule: ImmutabilityRule): string {
  return `immutability rule ${rule.id} (${describeSelector('repositories', rule.repositories)}, ${describeSelector('tags', rule.tags)})`;
}

function compileRules(rules: readonly ImmutabilityRule[]): ImmutableTagTest {
  const compiled = rules
    .filter((rule) => !rule.disabled)
    .map((rule) => ({ rule, repository: compileSelector(rule.repositories), tag: compileSelector(rule.tags) }));
  if (compiled.length === 0) return () => undefined;
  return (repository, tag) => {
    const name = nameInProject(repository);
    return compiled.find((entry) => entry.repository(name) && entry.tag(tag))?.rule;
  };
}

function columnsOf(rule: ImmutabilityRuleInput) {
  return {
    repository_pattern: rule.repositories.pattern,
    repository_decoration: rule.repositories.decoration,
    tag_pattern: rule.tags.pattern,
    tag_decoration: rule.tags.decoration,
    disabled: rule.disabled ? 1 : 0,
  };
}
