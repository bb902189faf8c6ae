import { projectOf } from '../auth/projects/project-name.ts';
import { compileGlob } from './glob.ts';

export const decorations = ['matches', 'excludes'] as const;
export type Decoration = (typeof decorations)[number];

/** Which repositories or tags a rule is about: those a glob matches, or those it does not. */
export interface Selector {
  pattern: string;
  decoration: Decoration;
}

export type SelectorTest = (value: string) => boolean;

export function compileSelector(selector: Selector): SelectorTest {
  const glob = compileGlob(selector.pattern);
  return selector.decoration === 'matches' ? (value) => glob.test(value) : (value) => !glob.test(value);
}

/** `repositories matching "**"`, as messages and logs name a selector. */
export function describeSelector(noun: string, selector: Selector): string {
  return `${noun} ${selector.decoration === 'matches' ? 'matching' : 'not matching'} ${JSON.stringify(selector.pattern)}`;
}

/**
 * The name repository selectors match: the repository without its project (`team/app/api` →
 * `app/api`), as Harbor's do. A repository named like its project (`app` in project `app`) is
 * matched by that name.
 */
export function nameInProject(repository: string): string {
  const project = projectOf(repository);
  return repository === project ? repository : repository.slice(project.length + 1);
}
