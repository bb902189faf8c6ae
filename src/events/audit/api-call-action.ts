/** What a management API call did, as the audit log names it. */
export interface ApiCallAction {
  /** `project`, `member`, `robot`, ... */
  resourceType: string;
  /** `member.create`, `project.delete`, `robot.secret`, `user.password.update`, ... */
  action: string;
}

const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'update', DELETE: 'delete' };

/**
 * Names the action of a state-changing call from its method and route pattern alone
 * (`/projects/{name}/members/{id}`), so every route, including ones added later, is audited under
 * a predictable name without being listed anywhere:
 *
 * - the resource is the last collection named (`members` → `member`), a collection being a literal
 *   segment followed by an identifier (`{id}`, `current`) or a plural word at the end; plain words
 *   right before it qualify it (`/replication/policies/{id}` → `replication-policy`);
 * - the verb comes from the method: POST create, PUT and PATCH update, DELETE delete;
 * - a singular word after the resource's identifier is an operation on it: POST
 *   `/robots/{robot}/secret` is `robot.secret`, PUT `/users/current/password` is
 *   `user.password.update`.
 */
export function apiCallAction(method: string, pattern: string): ApiCallAction {
  const segments = pattern.split('/').filter((segment) => segment !== '');
  const verb = verbs[method.toUpperCase()] ?? method.toLowerCase();
  let resourceType: string | undefined;
  let operation: string[] = [];
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index] ?? '';
    if (isIdentifier(segment)) continue;
    const next = segments[index + 1];
    const collection = (next !== undefined && isIdentifier(next)) || (next === undefined && isPlural(segment));
    if (collection) {
      // Words just before a collection qualify it: /retention/runs holds `retention-run`s.
      resourceType = [...operation.map(singular), singular(segment)].join('-');
      operation = [];
    } else {
      operation.push(segment);
    }
  }
  // Only plain words (`/system/gc`): the first names the resource, the rest the operation.
  if (resourceType === undefined && operation.length > 0) {
    resourceType = singular(operation[0] ?? '');
    operation = operation.slice(1);
  }
  const type = resourceType ?? 'api';
  if (operation.length === 0) return { resourceType: type, action: `${type}.${verb}` };
  const named = [type, ...operation].join('.');
  return { resourceType: type, action: method.toUpperCase() === 'POST' ? named : `${named}.${verb}` };
}

function isIdentifier(segment: string): boolean {
  return segment.startsWith('{') || segment.startsWith(':') || segment === 'current';
}

function isPlural(word: string): boolean {
  return word.endsWith('s') && !/(?:ss|us|is)$/.test(word);
}

function singular(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (isPlural(word)) return word.slice(0, -1);
  return word;
}
