import type { RegistryEvent } from '../../event.ts';
import { webhookEventType } from '../event-types.ts';

/** What Harbor's `repository` block says beyond the event: known when the repository still exists. */
export interface RepositoryFacts {
  /** Whether its project is public; undefined when unknown (no projects). */
  public: boolean | undefined;
  /** When the repository was created, epoch milliseconds. */
  createdAt: number | undefined;
}

/** Harbor's `event_data`: the resources (the artifact), the repository, and any further attributes. */
export function harborEventData(event: RegistryEvent, facts: RepositoryFacts | undefined): Record<string, unknown> {
  const { target } = event;
  const data: Record<string, unknown> = {};
  if (target.repository !== undefined && target.digest !== undefined) {
    // A deleted manifest took its tags along: one resource per tag, as Harbor lists them.
    const tags = target.tag !== undefined ? [target.tag] : (target.tags ?? []);
    const host = target.url === undefined ? event.request?.host : new URL(target.url).host;
    data.resources =
      tags.length === 0
        ? [resource(target.repository, target.digest, undefined, host)]
        : tags.map((tag) => resource(target.repository ?? '', target.digest ?? '', tag, host));
  } else if (target.repository !== undefined && target.tag !== undefined) {
    data.resources = [{ tag: target.tag }];
  }
  if (target.repository !== undefined) {
    const slash = target.repository.indexOf('/');
    const repository: Record<string, unknown> = {};
    if (facts?.createdAt !== undefined) repository.date_created = Math.floor(facts.createdAt / 1000);
    repository.name = slash === -1 ? target.repository : target.repository.slice(slash + 1);
    repository.namespace = target.project ?? (slash === -1 ? target.repository : target.repository.slice(0, slash));
    repository.repo_full_name = target.repository;
    if (facts?.public !== undefined) repository.repo_type = facts.public ? 'public' : 'private';
    data.repository = repository;
  }
  const attributes = customAttributes(event);
  if (Object.keys(attributes).length > 0) data.custom_attributes = attributes;
  return data;
}

/** Harbor's default payload: `{type, occur_at, operator, event_data}`. */
export function harborPayload(event: RegistryEvent, facts: RepositoryFacts | undefined): object {
  return {
    type: webhookEventType(event.action),
    occur_at: Math.floor(Date.parse(event.timestamp) / 1000),
    operator: event.actor.name,
    event_data: harborEventData(event, facts),
  };
}

/**
 * One artifact as Harbor names it: a push by digest has the digest in `tag`, and the URL (the
 * registry's host, no scheme) points at the tag or the digest.
 */
function resource(repository: string, digest: string, tag: string | undefined, host: string | undefined) {
  const named: Record<string, unknown> = { digest, tag: tag ?? digest };
  if (host !== undefined) named.resource_url = `${host}/${repository}${tag === undefined ? `@${digest}` : `:${tag}`}`;
  return named;
}

/** Facts Harbor's blocks have no field for (a project's name, a moved tag's old digest, details), as text. */
function customAttributes(event: RegistryEvent): Record<string, string> {
  const attributes: Record<string, string> = {};
  const { target } = event;
  if (target.repository === undefined && target.project !== undefined) attributes.project = target.project;
  if (target.previousDigest !== undefined) attributes.previous_digest = target.previousDigest;
  for (const [key, value] of Object.entries(event.details ?? {})) attributes[key] = value === null ? '' : String(value);
  return attributes;
}
