import type { Kysely } from 'kysely';
import type { Database } from '../../metadata/schema.ts';
import type { Artifact } from '../artifact-inventory.ts';
import { chunked, inProject } from '../project-scope.ts';

/**
 * What deleting `artifacts` releases from the project's usage, as the quota counts it: their
 * manifests, and the blobs they reference that no other manifest of the project references. Asked
 * before the deletion (a dry run) the artifacts themselves are left out of "other"; asked after,
 * they are gone anyway, so both give the same answer. `blobs` are the artifacts' blobs by manifest id.
 */
export async function releasedBytes(
  db: Kysely<Database>,
  project: string,
  artifacts: readonly Artifact[],
  blobs: ReadonlyMap<number, readonly string[]>,
): Promise<number> {
  const going = new Set(artifacts.map((artifact) => artifact.id));
  const digests = [...new Set(artifacts.flatMap((artifact) => blobs.get(artifact.id) ?? []))];
  const stillReferenced = new Set<string>();
  for (const chunk of chunked(digests)) {
    const rows = await db
      .selectFrom('manifest_blobs')
      .innerJoin('manifests', 'manifests.id', 'manifest_blobs.manifest_id')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select(['manifest_blobs.digest', 'manifest_blobs.manifest_id'])
      .where('manifest_blobs.digest', 'in', chunk)
      .where((eb) => inProject(eb, project))
      .execute();
    for (const row of rows) if (!going.has(row.manifest_id)) stillReferenced.add(row.digest);
  }
  let bytes = artifacts.reduce((sum, artifact) => sum + artifact.size, 0);
  const released = digests.filter((digest) => !stillReferenced.has(digest));
  for (const chunk of chunked(released)) {
    const rows = await db.selectFrom('blobs').select('size').where('digest', 'in', chunk).execute();
    for (const row of rows) bytes += Number(row.size);
  }
  return bytes;
}
