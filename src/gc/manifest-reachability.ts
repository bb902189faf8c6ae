import type { Kysely } from 'kysely';
import type { Database } from '../metadata/schema.ts';

/**
 * The mark phase of `wharf gc --delete-untagged`: the ids of manifests that no tag reaches, one
 * repository at a time. A manifest is reached when a tag names it, when an index that is reached
 * lists it, or when it is a referrer (signature, SBOM) of a manifest that is reached.
 */
export async function findUnreachableManifests(db: Kysely<Database>): Promise<number[]> {
  const unreachable: number[] = [];
  const repositories = await db.selectFrom('repositories').select('id').orderBy('id').execute();
  for (const { id: repositoryId } of repositories) {
    const [manifests, tags, references] = await Promise.all([
      db
        .selectFrom('manifests')
        .select(['id', 'digest', 'subject_digest'])
        .where('repository_id', '=', repositoryId)
        .execute(),
      db.selectFrom('tags').select('manifest_id').where('repository_id', '=', repositoryId).execute(),
      db
        .selectFrom('manifest_references')
        .innerJoin('manifests', 'manifests.id', 'manifest_references.parent_id')
        .select(['manifest_references.parent_id', 'manifest_references.child_digest'])
        .where('manifests.repository_id', '=', repositoryId)
        .execute(),
    ]);
    if (manifests.length === 0) continue;
    const byDigest = new Map(manifests.map((manifest) => [manifest.digest, manifest.id]));
    const children = new Map<number, number[]>();
    for (const reference of references) {
      const child = byDigest.get(reference.child_digest);
      if (child === undefined) continue;
      children.set(reference.parent_id, [...(children.get(reference.parent_id) ?? []), child]);
    }
    const referrers = new Map<number, number[]>();
    for (const manifest of manifests) {
      const subject = manifest.subject_digest === null ? undefined : byDigest.get(manifest.subject_digest);
      if (subject !== undefined) referrers.set(subject, [...(referrers.get(subject) ?? []), manifest.id]);
    }
    const reached = new Set<number>();
    const pending = tags.map((tag) => tag.manifest_id);
    while (pending.length > 0) {
      const id = pending.pop()!;
      if (reached.has(id)) continue;
      reached.add(id);
      pending.push(...(children.get(id) ?? []), ...(referrers.get(id) ?? []));
    }
    for (const manifest of manifests) if (!reached.has(manifest.id)) unreachable.push(manifest.id);
  }
  return unreachable;
}
