import type { Artifact } from '../artifact-inventory.ts';
import type { ImmutableTagTest } from '../immutability/immutability-rules.ts';
import { compileSelector, nameInProject } from '../selector.ts';
import type { RetentionRule } from './retention-rules.ts';

const dayMs = 86_400_000;

/** Cosign's tag-based scheme: `sha256-<hex>.sig` (or .att, .sbom) signs the manifest `sha256:<hex>`. */
const cosignTag = /^sha256-([0-9a-f]{64})\.(?:sig|att|sbom)$/;

export interface RepositoryVerdict {
  repository: string;
  /** Each kept artifact's digest and why: `rule 2`, `immutable`, `signed`, `in index`, `referrer`. */
  retained: Map<string, string[]>;
  /** What goes: artifacts no rule keeps, then children of indexes that go (each only after its parents). */
  deleted: Artifact[];
}

/**
 * Judges one repository's artifacts against a project's rules, evaluated together as Harbor does:
 * an artifact is kept when any rule that applies to the repository keeps it, and everything else in
 * that repository goes. A repository no enabled rule selects is left alone (undefined).
 *
 * Beyond the rules, always kept: artifacts with an immutable tag, artifacts that are signed or
 * otherwise referenced (the subject of a referrer, or named by a cosign `sha256-….sig` tag), the
 * referrers and signatures of what is kept, and the manifests an index that is kept names. Such
 * children and referrers are not judged on their own: they live as long as what they belong to.
 */
export function evaluateRepository(
  repository: string,
  artifacts: readonly Artifact[],
  rules: readonly RetentionRule[],
  now: number,
  immutable: ImmutableTagTest,
): RepositoryVerdict | undefined {
  const name = nameInProject(repository);
  const applicable = rules
    .map((rule, index) => ({ rule, label: `rule ${index + 1}` }))
    .filter(({ rule }) => !rule.disabled && compileSelector(rule.repositories)(name));
  if (applicable.length === 0) return undefined;

  const present = new Set(artifacts.map((artifact) => artifact.digest));
  const subjectOf = (artifact: Artifact): string | undefined => {
    if (artifact.subjectDigest !== null && present.has(artifact.subjectDigest)) return artifact.subjectDigest;
    for (const tag of artifact.tags) {
      const signed = cosignTag.exec(tag)?.[1];
      if (signed && present.has(`sha256:${signed}`)) return `sha256:${signed}`;
    }
    return undefined;
  };
  const children = new Set(
    artifacts.flatMap((artifact) => artifact.childDigests).filter((digest) => present.has(digest)),
  );
  const signed = new Set(artifacts.map(subjectOf).filter((digest) => digest !== undefined));
  const judged = artifacts.filter(
    (artifact) => subjectOf(artifact) === undefined && (artifact.tags.length > 0 || !children.has(artifact.digest)),
  );

  const retained = new Map<string, string[]>();
  const keep = (digest: string, reason: string) => retained.set(digest, [...(retained.get(digest) ?? []), reason]);
  for (const { rule, label } of applicable) {
    const tagTest = compileSelector(rule.tags);
    const candidates = judged.filter((artifact) =>
      artifact.tags.length === 0 ? rule.tags.untagged : artifact.tags.some(tagTest),
    );
    for (const artifact of keptBy(rule, candidates, now)) keep(artifact.digest, label);
  }
  for (const artifact of artifacts) {
    if (artifact.tags.some((tag) => immutable(repository, tag) !== undefined)) keep(artifact.digest, 'immutable');
    if (signed.has(artifact.digest)) keep(artifact.digest, 'signed');
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const artifact of artifacts) {
      if (retained.has(artifact.digest)) {
        for (const child of artifact.childDigests) {
          if (present.has(child) && !retained.has(child)) {
            keep(child, 'in index');
            changed = true;
          }
        }
      }
      const subject = subjectOf(artifact);
      if (subject !== undefined && retained.has(subject) && !retained.has(artifact.digest)) {
        keep(artifact.digest, 'referrer');
        changed = true;
      }
    }
  }

  const going = artifacts.filter((artifact) => !retained.has(artifact.digest));
  const parentsFirst = [
    ...going.filter((artifact) => !children.has(artifact.digest)),
    ...going.filter((artifact) => children.has(artifact.digest)),
  ];
  return { repository, retained, deleted: parentsFirst };
}

function keptBy(rule: RetentionRule, candidates: readonly Artifact[], now: number): readonly Artifact[] {
  switch (rule.keep) {
    case 'latest_pushed':
      return [...candidates].sort(byPushed).slice(0, rule.count);
    case 'latest_pulled':
      return [...candidates]
        .sort((a, b) => (b.pulledAt ?? -1) - (a.pulledAt ?? -1) || byPushed(a, b))
        .slice(0, rule.count);
    case 'pushed_within_days':
      return candidates.filter((artifact) => artifact.pushedAt >= now - rule.days * dayMs);
    case 'pulled_within_days':
      return candidates.filter(
        (artifact) => artifact.pulledAt !== null && artifact.pulledAt >= now - rule.days * dayMs,
      );
    case 'always':
      return candidates;
  }
}

/** Most recently pushed first; the later stored first among equals. */
function byPushed(a: Artifact, b: Artifact): number {
  return b.pushedAt - a.pushedAt || b.id - a.id;
}
