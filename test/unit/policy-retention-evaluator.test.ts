import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Artifact } from '../../src/policy/artifact-inventory.ts';
import type { ImmutableTagTest } from '../../src/policy/immutability/immutability-rules.ts';
import { evaluateRepository } from '../../src/policy/retention/retention-evaluator.ts';
import { type RetentionRule, retentionRulesSchema } from '../../src/policy/retention/retention-rules.ts';

const day = 86_400_000;
const now = Date.UTC(2025, 0, 31);
const repository = 'team/app';
let nextId = 1;

function digestOf(name: string): string {
  return `sha256:${Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64)}`;
}

function artifact(
  name: string,
  options: Partial<Omit<Artifact, 'digest'>> & { ageDays?: number; pulledDaysAgo?: number } = {},
): Artifact {
  return {
    id: nextId++,
    repository,
    digest: digestOf(name),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: null,
    size: 100,
    subjectDigest: null,
    tags: [],
    childDigests: [],
    pushedAt: now - (options.ageDays ?? 0) * day,
    pulledAt: options.pulledDaysAgo === undefined ? null : now - options.pulledDaysAgo * day,
    ...options,
  };
}

function rules(input: unknown[]): RetentionRule[] {
  return retentionRulesSchema.parse(input);
}

const nothingImmutable: ImmutableTagTest = () => undefined;

function judge(artifacts: Artifact[], input: unknown[], immutable: ImmutableTagTest = nothingImmutable) {
  const verdict = evaluateRepository(repository, artifacts, rules(input), now, immutable);
  assert.ok(verdict, 'a rule applies to the repository');
  const name = (digest: string) => artifacts.find((each) => each.digest === digest)?.tags[0] ?? digest;
  return {
    kept: [...verdict.retained.keys()].map(name).sort(),
    deleted: verdict.deleted.map((each) => each.tags[0] ?? each.digest),
    reasons: verdict.retained,
  };
}

describe('retention rules', () => {
  it('latest_pushed keeps the N most recently pushed of the tags it selects', () => {
    const artifacts = [1, 2, 3, 4].map((n) => artifact(`v${n}`, { tags: [`v${n}`], ageDays: 10 - n }));
    const verdict = judge(artifacts, [{ keep: 'latest_pushed', count: 2 }]);
    assert.deepEqual(verdict.kept, ['v3', 'v4']);
    assert.deepEqual(verdict.deleted, ['v1', 'v2']);
  });

  it('pushed_within_days and pulled_within_days compare with now', () => {
    const artifacts = [
      artifact('old', { tags: ['old'], ageDays: 30, pulledDaysAgo: 1 }),
      artifact('new', { tags: ['new'], ageDays: 2 }),
      artifact('mid', { tags: ['mid'], ageDays: 10, pulledDaysAgo: 20 }),
    ];
    assert.deepEqual(judge(artifacts, [{ keep: 'pushed_within_days', days: 7 }]).kept, ['new']);
    assert.deepEqual(judge(artifacts, [{ keep: 'pulled_within_days', days: 7 }]).kept, ['old']);
    assert.deepEqual(judge(artifacts, [{ keep: 'pulled_within_days', days: 21 }]).kept, ['mid', 'old']);
    assert.deepEqual(judge(artifacts, [{ keep: 'pushed_within_days', days: 0.5 }]).kept, []);
  });

  it('latest_pulled ranks never-pulled artifacts last', () => {
    const artifacts = [
      artifact('a', { tags: ['a'], pulledDaysAgo: 5 }),
      artifact('b', { tags: ['b'] }),
      artifact('c', { tags: ['c'], pulledDaysAgo: 1 }),
    ];
    assert.deepEqual(judge(artifacts, [{ keep: 'latest_pulled', count: 1 }]).kept, ['c']);
    assert.deepEqual(judge(artifacts, [{ keep: 'latest_pulled', count: 2 }]).kept, ['a', 'c']);
  });

  it('always keeps the tags a rule matches; rules are evaluated together', () => {
    const artifacts = [
      artifact('release', { tags: ['release-1'], ageDays: 100 }),
      artifact('dev1', { tags: ['dev-1'], ageDays: 3 }),
      artifact('dev2', { tags: ['dev-2'], ageDays: 2 }),
    ];
    const verdict = judge(artifacts, [
      { keep: 'always', tags: { pattern: 'release-*' } },
      { keep: 'latest_pushed', count: 1, tags: { pattern: 'dev-*' } },
    ]);
    assert.deepEqual(verdict.kept, ['dev-2', 'release-1']);
    assert.deepEqual(verdict.deleted, ['dev-1']);
    assert.deepEqual(verdict.reasons.get(digestOf('release')), ['rule 1']);
  });

  it('excludes selects the tags a pattern does not match', () => {
    const artifacts = [artifact('a', { tags: ['latest'] }), artifact('b', { tags: ['v1'] })];
    assert.deepEqual(judge(artifacts, [{ keep: 'always', tags: { pattern: 'latest', decoration: 'excludes' } }]).kept, [
      'v1',
    ]);
  });

  it('deletes untagged artifacts unless a rule includes them', () => {
    const artifacts = [artifact('tagged', { tags: ['v1'] }), artifact('loose', { ageDays: 1 })];
    assert.deepEqual(judge(artifacts, [{ keep: 'always' }]).deleted, [digestOf('loose')]);
    assert.deepEqual(judge(artifacts, [{ keep: 'pushed_within_days', days: 2, tags: { untagged: true } }]).deleted, []);
  });

  it('keeps signed and referenced artifacts with their referrers, and index children with their index', () => {
    const image = artifact('image', { tags: ['v1'], ageDays: 50 });
    const signature = artifact('signature', { subjectDigest: image.digest });
    const cosigned = artifact('cosigned', { tags: ['v2'], ageDays: 40 });
    const cosignTag = `sha256-${cosigned.digest.slice('sha256:'.length)}.sig`;
    const cosignSignature = artifact('cosign', { tags: [cosignTag], ageDays: 40 });
    const child = artifact('child');
    const index = artifact('index', { tags: ['multi'], childDigests: [child.digest], ageDays: 30 });
    const goneChild = artifact('gone-child');
    const goneIndex = artifact('gone-index', { tags: ['old-multi'], childDigests: [goneChild.digest], ageDays: 60 });
    const verdict = judge(
      [image, signature, cosigned, cosignSignature, index, child, goneIndex, goneChild],
      [{ keep: 'pushed_within_days', days: 35 }],
    );
    assert.deepEqual(verdict.deleted, ['old-multi', goneChild.digest], 'the index goes before the child it names');
    assert.deepEqual(verdict.reasons.get(image.digest), ['signed']);
    assert.deepEqual(verdict.reasons.get(signature.digest), ['referrer']);
    assert.deepEqual(verdict.reasons.get(cosigned.digest), ['signed']);
    assert.deepEqual(verdict.reasons.get(cosignSignature.digest), ['referrer']);
    assert.deepEqual(verdict.reasons.get(child.digest), ['in index']);
  });

  it('keeps artifacts with an immutable tag', () => {
    const artifacts = [artifact('a', { tags: ['v1'], ageDays: 100 })];
    const immutable: ImmutableTagTest = (_repository, tag) =>
      tag === 'v1'
        ? {
            id: 1,
            project: 'team',
            repositories: { pattern: '**', decoration: 'matches' },
            tags: { pattern: 'v*', decoration: 'matches' },
            disabled: false,
            createdAt: 0,
            createdBy: null,
          }
        : undefined;
    assert.deepEqual(
      judge(artifacts, [{ keep: 'latest_pushed', count: 1, tags: { pattern: 'none' } }], immutable).kept,
      ['v1'],
    );
  });

  it('leaves repositories that no enabled rule selects alone', () => {
    const artifacts = [artifact('a', { tags: ['v1'] })];
    const selectsOther = rules([{ keep: 'always', repositories: { pattern: 'other/**' } }]);
    assert.equal(evaluateRepository(repository, artifacts, selectsOther, now, nothingImmutable), undefined);
    const disabled = rules([{ keep: 'always', disabled: true }]);
    assert.equal(evaluateRepository(repository, artifacts, disabled, now, nothingImmutable), undefined);
    const excluded = rules([{ keep: 'always', repositories: { pattern: 'app', decoration: 'excludes' } }]);
    assert.equal(evaluateRepository(repository, artifacts, excluded, now, nothingImmutable), undefined);
  });

  it('refuses malformed rules with the field named', () => {
    const result = retentionRulesSchema.safeParse([{ keep: 'latest_pushed', count: 0, tags: { pattern: '{v' } }]);
    assert.equal(result.success, false);
    const paths = result.error?.issues.map((issue) => issue.path.join('.')).sort();
    assert.deepEqual(paths, ['0.count', '0.tags.pattern']);
    assert.equal(retentionRulesSchema.safeParse([{ keep: 'forever' }]).success, false);
  });
});
