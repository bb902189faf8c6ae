import { RegistryError } from './errors.ts';

/** distribution-spec: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` */
const nameGrammar = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const tagGrammar = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Distribution's limit on a whole repository name. */
export const maxNameLength = 255;

export function isRepositoryName(value: string): boolean {
  return value.length > 0 && value.length <= maxNameLength && nameGrammar.test(value);
}

export function parseRepositoryName(value: string): string {
  if (!isRepositoryName(value)) {
    const reason = value.length > maxNameLength ? `longer than ${maxNameLength} characters` : 'not a valid name';
    throw new RegistryError('NAME_INVALID', `invalid repository name "${value.slice(0, 300)}": ${reason}`);
  }
  return value;
}

export function isTag(value: string): boolean {
  return tagGrammar.test(value);
}

export function parseTag(value: string): string {
  if (!isTag(value)) throw new RegistryError('TAG_INVALID', `invalid tag "${value.slice(0, 200)}"`);
  return value;
}
