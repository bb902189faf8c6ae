/** One path component of a repository name (distribution-spec), which is what a project name is. */
export const projectNameGrammar = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
export const maxProjectNameLength = 255;

export function isProjectName(value: string): boolean {
  return value.length > 0 && value.length <= maxProjectNameLength && projectNameGrammar.test(value);
}

/**
 * The project a repository belongs to: its first path component. `team/app` and `team/tools/lint`
 * are in `team`; a one-component name such as `app` is in the project `app` itself, so
 * `docker push host/app` needs a project named `app` (or auto-creation), like any other push.
 */
export function projectOf(repository: string): string {
  const slash = repository.indexOf('/');
  return slash === -1 ? repository : repository.slice(0, slash);
}
