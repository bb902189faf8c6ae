import type { ProjectRecord, ProjectStanding, ProjectStore } from '../../metadata/project-store.ts';
import { RegistryError } from '../../oci/errors.ts';
import { covers, type RepositoryAction, type ResourceAccess } from '../access.ts';
import type { Authorizer } from '../authorizer.ts';
import { isAnonymous, type Principal } from '../principal.ts';
import { isRobot, memberIdentityOf } from './principal-kind.ts';
import { projectOf } from './project-name.ts';
import { highestRole, repositoryActionsOf } from './roles.ts';

export interface ProjectAuthorizerOptions {
  /** `auth.autocreateprojects`: a push to a missing project creates it for a caller who may create projects. */
  autoCreate: boolean;
  /** Who may create projects: every user (Harbor's default) or system administrators only. */
  creators: 'users' | 'admins';
}

const allRepositoryActions: readonly RepositoryAction[] = ['pull', 'push', 'delete'];
const nothing: ReadonlySet<string> = new Set();

/**
 * Harbor's model: a repository belongs to the project named by its first path component, and what
 * a caller may do there follows from who it is. System administrators may do everything; robots
 * their permissions and never more (a membership does not widen them); users what their highest
 * role (direct or through a group) allows; anyone, anonymous callers and robots included, may pull
 * from a public project. Nothing is granted on a project that does not exist except an
 * administrator's pull and delete, so a push never creates a repository outside a project.
 *
 * A caller with a verified token gets what the token grants, no more and no less: the token service
 * decided that with the caller's whole identity (groups, robot permissions) minutes ago, which the
 * token's subject alone no longer carries.
 */
export class ProjectAuthorizer implements Authorizer {
  readonly name = 'projects';

  constructor(
    private readonly projects: ProjectStore,
    private readonly options: ProjectAuthorizerOptions = { autoCreate: false, creators: 'users' },
  ) {}

  async grant(principal: Principal, requested: readonly ResourceAccess[]): Promise<ResourceAccess[]> {
    if (principal.grants !== undefined) return withinGrants(principal.grants, requested);
    const names = requested.filter((entry) => entry.type === 'repository').map((entry) => projectOf(entry.name));
    const standings = names.length > 0 ? await this.projects.standings(names, memberIdentityOf(principal)) : new Map();
    const granted: ResourceAccess[] = [];
    for (const entry of requested) {
      const allowed = this.allowedActions(principal, entry, standings);
      const actions = entry.actions.filter((action) =>
        action === '*'
          ? allRepositoryActions.every((each) => allowed.has(each)) || allowed.has('*')
          : allowed.has(action),
      );
      if (actions.length > 0) granted.push({ type: entry.type, name: entry.name, actions });
    }
    return granted;
  }

  /** One query for the projects of all the repositories, whatever their number. */
  async pullableRepositories(principal: Principal, repositories: readonly string[]): Promise<string[] | undefined> {
    if (principal.admin) return undefined;
    const names = new Set(repositories.map(projectOf));
    const standings = await this.projects.standings(names, memberIdentityOf(principal));
    const pullable = new Set(
      [...names].filter((name) => this.repositoryActions(principal, name, standings.get(name)).has('pull')),
    );
    const grants = principal.grants;
    return repositories.filter(
      (repository) =>
        pullable.has(projectOf(repository)) ||
        (grants !== undefined && covers(grants, { type: 'repository', name: repository, actions: ['pull'] })),
    );
  }

  /** The project a repository belongs to. */
  projectOf(repository: string): string {
    return projectOf(repository);
  }

  async projectExists(name: string): Promise<boolean> {
    return (await this.projects.findProject(name)) !== undefined;
  }

  /** Whether the principal may create projects (through the API, or by pushing when auto-creation is on). */
  mayCreateProjects(principal: Principal): boolean {
    if (principal.admin) return true;
    if (isAnonymous(principal) || isRobot(principal)) return false;
    return this.options.creators === 'users';
  }

  /** The project, created private with the creator as its project admin when it does not exist yet. */
  async ensureProject(name: string, creator: string): Promise<ProjectRecord> {
    const created = await this.projects.createProject({ name, public: false, createdBy: creator }, [
      { kind: 'user', name: creator, role: 'projectAdmin' },
    ]);
    if (created) return created;
    const existing = await this.projects.findProject(name);
    if (!existing) throw new Error(`project ${name} vanished while being created`);
    return existing;
  }

  /**
   * Before a push is authorized: refuses a repository whose project does not exist with 404
   * NAME_UNKNOWN naming the project, or creates the project when auto-creation is on and the caller
   * may create projects. Anonymous callers pass through, so authorization answers them with the
   * 401 challenge that makes a client send credentials.
   */
  async preparePush(principal: Principal, repository: string): Promise<void> {
    if (isAnonymous(principal)) return;
    const name = projectOf(repository);
    if (await this.projectExists(name)) return;
    if (this.options.autoCreate && this.mayCreateProjects(principal)) {
      await this.ensureProject(name, principal.name);
      return;
    }
    throw projectUnknown(name);
  }

  private allowedActions(
    principal: Principal,
    entry: ResourceAccess,
    standings: ReadonlyMap<string, ProjectStanding>,
  ): ReadonlySet<string> {
    if (entry.type === 'registry' && entry.name === 'catalog') {
      return isAnonymous(principal) ? nothing : new Set(entry.actions);
    }
    if (entry.type !== 'repository') return principal.admin ? new Set(entry.actions) : nothing;
    const name = projectOf(entry.name);
    return this.repositoryActions(principal, name, standings.get(name));
  }

  private repositoryActions(
    principal: Principal,
    project: string,
    standing: ProjectStanding | undefined,
  ): ReadonlySet<string> {
    if (principal.admin) return new Set(standing ? allRepositoryActions : ['pull', 'delete']);
    if (standing === undefined) return nothing;
    const actions = new Set<string>(standing.public ? ['pull'] : []);
    if (isRobot(principal)) {
      for (const action of robotActions(principal, project)) actions.add(action);
      return actions;
    }
    if (isAnonymous(principal)) return actions;
    const role = highestRole(standing.roles);
    if (role !== undefined) for (const action of repositoryActionsOf(role)) actions.add(action);
    return actions;
  }
}

/** The requested access a token covers, action by action. */
function withinGrants(grants: readonly ResourceAccess[], requested: readonly ResourceAccess[]): ResourceAccess[] {
  return requested
    .map((entry) => ({
      type: entry.type,
      name: entry.name,
      actions: entry.actions.filter((action) =>
        covers(grants, { type: entry.type, name: entry.name, actions: [action] }),
      ),
    }))
    .filter((entry) => entry.actions.length > 0);
}

/** A robot's permissions on one project: its own entries for the project and any for `*`. */
function robotActions(principal: Principal, project: string): ReadonlySet<string> {
  const actions = new Set<string>();
  for (const permission of principal.permissions ?? []) {
    if (permission.project !== project && permission.project !== '*') continue;
    for (const action of permission.actions) {
      if (action === '*') for (const each of allRepositoryActions) actions.add(each);
      else if ((allRepositoryActions as readonly string[]).includes(action)) actions.add(action);
    }
  }
  return actions;
}

/** The answer to a push into a project that does not exist. */
export function projectUnknown(name: string): RegistryError {
  return new RegistryError('NAME_UNKNOWN', `project ${name} does not exist`, { detail: { project: name } });
}
