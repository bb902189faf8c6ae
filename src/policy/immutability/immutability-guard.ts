import { projectOf } from '../../auth/projects/project-name.ts';
import type { ChangeListener } from '../../metadata/metadata-changes.ts';
import { RegistryError } from '../../oci/errors.ts';
import { describeImmutabilityRule, type ImmutabilityRule, type ImmutabilityRules } from './immutability-rules.ts';

/**
 * Refuses, inside the write's transaction, every change that would move an immutable tag to another
 * digest or remove it: a push of another manifest under the tag, a delete of the tag, a delete of
 * the manifest it names (and so of its repository). Pushing the digest the tag already names is no
 * change, so a retried push succeeds.
 */
export function immutabilityGuard(rules: ImmutabilityRules): ChangeListener {
  return async (trx, change) => {
    switch (change.type) {
      case 'manifest.stored': {
        const tag = change.tag;
        if (tag === undefined || tag.previousDigest === undefined || tag.previousDigest === change.digest) return;
        const rule = (await rules.tagTest(trx, projectOf(change.repository)))(change.repository, tag.name);
        if (rule) throw immutable(change.repository, tag.name, rule, 'it cannot be overwritten');
        return;
      }
      case 'tag.deleted': {
        const rule = (await rules.tagTest(trx, projectOf(change.repository)))(change.repository, change.tag);
        if (rule) throw immutable(change.repository, change.tag, rule, 'it cannot be deleted');
        return;
      }
      case 'manifest.deleted': {
        if (change.tags.length === 0) return;
        const test = await rules.tagTest(trx, projectOf(change.repository));
        for (const tag of change.tags) {
          const rule = test(change.repository, tag);
          if (rule) {
            throw immutable(change.repository, tag, rule, `manifest ${change.digest} it names cannot be deleted`);
          }
        }
        return;
      }
      default:
        return;
    }
  };
}

function immutable(repository: string, tag: string, rule: ImmutabilityRule, consequence: string): RegistryError {
  return new RegistryError(
    'DENIED',
    `tag ${repository}:${tag} is immutable by ${describeImmutabilityRule(rule)}; ${consequence}`,
    { detail: { repository, tag, rule: rule.id } },
  );
}
