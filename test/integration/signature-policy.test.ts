import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  addMember,
  api,
  basicOf,
  type Credentials,
  call,
  createProject,
  createUser,
  pushImageAs,
  type SmallImage,
  smallImage,
} from '../helpers/auth.ts';
import {
  type Descriptor,
  descriptorOf,
  emptyDescriptor,
  emptyJson,
  type HttpResult,
  MediaType,
  ociIndex,
  ociManifest,
  sha256,
} from '../helpers/http.ts';
import { firstError } from '../helpers/lifecycle.ts';
import {
  cosignPayload,
  cosignSign,
  cosignSignatureArtifact,
  cosignTag,
  type NotationSigner,
  notationArtifact,
  notationEnvelope,
  notationSigner,
  pushArtifact,
} from '../helpers/signatures.ts';
import { SkopeoError, skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const accept = [MediaType.ociManifest, MediaType.ociIndex].join(', ');

function pull(base: string, repo: string, reference: string, auth?: string, method = 'GET'): Promise<HttpResult> {
  return call(base, method, `/v2/${repo}/manifests/${reference}`, auth, { headers: { accept } });
}

function descriptorOfImage(image: SmallImage): Descriptor {
  return { mediaType: MediaType.ociManifest, digest: image.digest, size: image.manifest.length };
}

/** Signs `image` as `cosign sign --key` does without the referrers API: the `sha256-<hex>.sig` tag. */
async function cosignTagSchema(base: string, repo: string, image: SmallImage, key: KeyObject, auth?: string) {
  const payload = cosignPayload(image.digest, `registry.example.com/${repo}`);
  const artifact = cosignSignatureArtifact(payload, cosignSign(key, payload));
  await pushArtifact(base, repo, cosignTag(image.digest), artifact.blobs, artifact.manifest, auth);
  return artifact;
}

/** Signs `image` as cosign's OCI 1.1 mode does: a referrer pushed by digest. */
async function cosignReferrer(base: string, repo: string, image: SmallImage, key: KeyObject, auth?: string) {
  const payload = cosignPayload(image.digest, `registry.example.com/${repo}`);
  const artifact = cosignSignatureArtifact(payload, cosignSign(key, payload), descriptorOfImage(image));
  await pushArtifact(base, repo, artifact.digest, artifact.blobs, artifact.manifest, auth);
  return artifact;
}

async function notationSign(base: string, repo: string, image: SmallImage, signer: NotationSigner, auth?: string) {
  const subject = descriptorOfImage(image);
  const envelope = await notationEnvelope(signer, subject);
  const manifest = notationArtifact(envelope, subject, signer);
  await pushArtifact(base, repo, sha256(manifest), [emptyJson, envelope], manifest, auth);
  return sha256(manifest);
}

function assertRefused(answer: HttpResult, reason: string, message: RegExp): void {
  assert.equal(answer.status, 412, answer.text());
  const error = firstError(answer);
  assert.equal(error.code, 'PROJECTPOLICYVIOLATION');
  assert.match(error.message, message);
  assert.equal((error.detail as { reason: string }).reason, reason);
}

async function metricValue(base: string, project: string, reason: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = new RegExp(
    `^wharf_signature_policy_denials_total\\{project="${project}",reason="${reason}"\\} (\\d+)$`,
    'm',
  ).exec(text);
  return Number(line?.[1] ?? 0);
}

describe('signature policy in presence mode (policy.signatures)', () => {
  let wharf: WharfProcess;
  let work: string;
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

  before(async () => {
    wharf = await startWharf({
      configYaml: ['policy:', '  signatures:', '    required: true'].join('\n'),
    });
    work = await mkdtemp(join(tmpdir(), 'wharf-signatures-'));
  });

  after(async () => {
    await wharf?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('refuses an unsigned image by tag and by digest, GET and HEAD, as Harbor does (412 PROJECTPOLICYVIOLATION)', async () => {
    const image = await pushImageAs(wharf.url, 'library/unsigned', '1.0', undefined);
    const before = await metricValue(wharf.url, 'library', 'unsigned');
    assertRefused(
      await pull(wharf.url, 'library/unsigned', '1.0'),
      'unsigned',
      /^The image is not signed by cosign or notation\. library\/unsigned:1\.0 \(sha256:[0-9a-f]{64}\): this registry serves only images with a cosign or notation signature \(policy\.signatures\)/,
    );
    assertRefused(await pull(wharf.url, 'library/unsigned', image.digest), 'unsigned', /not signed/);
    const head = await pull(wharf.url, 'library/unsigned', '1.0', undefined, 'HEAD');
    assert.equal(head.status, 412);
    // Blobs are fetched through manifests only; they are not gated.
    const blob = await call(wharf.url, 'GET', `/v2/library/unsigned/blobs/${image.layer.digest}`, undefined);
    assert.equal(blob.status, 200);
    assert.ok(blob.body.equals(image.layerBytes));
    assert.equal(await metricValue(wharf.url, 'library', 'unsigned'), before + 3);
  });

  it('serves an image with a cosign signature under its sha256-<hex>.sig tag, and the signature itself', async () => {
    const image = await pushImageAs(wharf.url, 'library/tagged', '1.0', undefined);
    assert.equal((await pull(wharf.url, 'library/tagged', '1.0')).status, 412);
    const signature = await cosignTagSchema(wharf.url, 'library/tagged', image, key);
    const pulled = await pull(wharf.url, 'library/tagged', '1.0');
    assert.equal(pulled.status, 200, pulled.text());
    assert.ok(pulled.body.equals(image.manifest));
    assert.equal((await pull(wharf.url, 'library/tagged', image.digest)).status, 200);
    const bySignatureTag = await pull(wharf.url, 'library/tagged', cosignTag(image.digest));
    assert.equal(bySignatureTag.status, 200);
    assert.equal((await pull(wharf.url, 'library/tagged', signature.digest)).status, 200);
  });

  it('serves an image with a notation signature in presence mode, and the signature by digest', async () => {
    const image = await pushImageAs(wharf.url, 'library/notarized', '1.0', undefined);
    const signature = await notationSign(wharf.url, 'library/notarized', image, await notationSigner('ci'));
    assert.equal((await pull(wharf.url, 'library/notarized', '1.0')).status, 200);
    assert.equal((await pull(wharf.url, 'library/notarized', signature)).status, 200);
  });

  it('still refuses a runnable image that names a subject, while serving a real referrer', async () => {
    const base = await pushImageAs(wharf.url, 'library/smuggled', '1.0', undefined);
    const image = smallImage();
    const disguised = Buffer.from(
      JSON.stringify(ociManifest({ config: image.config, layers: [image.layer], subject: descriptorOfImage(base) })),
    );
    await pushArtifact(
      wharf.url,
      'library/smuggled',
      sha256(disguised),
      [image.configBytes, image.layerBytes],
      disguised,
      undefined,
    );
    assertRefused(await pull(wharf.url, 'library/smuggled', sha256(disguised)), 'unsigned', /not signed/);
    const sbom = Buffer.from('{"spdxVersion":"SPDX-2.3"}');
    const referrer = Buffer.from(
      JSON.stringify(
        ociManifest({
          artifactType: 'application/spdx+json',
          config: emptyDescriptor,
          layers: [descriptorOf('application/spdx+json', sbom)],
          subject: descriptorOfImage(base),
        }),
      ),
    );
    await pushArtifact(wharf.url, 'library/smuggled', sha256(referrer), [emptyJson, sbom], referrer, undefined);
    assert.equal((await pull(wharf.url, 'library/smuggled', sha256(referrer))).status, 200);
  });

  it('lets a signing tool that may push read the unsigned image it is about to sign', async () => {
    await pushImageAs(wharf.url, 'library/to-sign', '1.0', undefined);
    const asCosign = await call(wharf.url, 'GET', '/v2/library/to-sign/manifests/1.0', undefined, {
      headers: { accept, 'user-agent': 'cosign/v2.4.1 (linux; amd64) go-containerregistry/v0.20.2' },
    });
    assert.equal(asCosign.status, 200);
    const asSomeoneElse = await call(wharf.url, 'GET', '/v2/library/to-sign/manifests/1.0', undefined, {
      headers: { accept, 'user-agent': 'containerd/1.7.13' },
    });
    assert.equal(asSomeoneElse.status, 412);
  });

  it('makes skopeo fail on an unsigned image with the reason in its error, and copy a signed one', async () => {
    const unsigned = await pushImageAs(wharf.url, 'library/skopeo-unsigned', '1.0', undefined);
    await assert.rejects(
      skopeo(['copy', `docker://${wharf.host}/library/skopeo-unsigned:1.0`, `dir:${join(work, 'unsigned')}`]),
      (error: unknown) => {
        assert.ok(error instanceof SkopeoError);
        assert.match(error.stderr, /The image is not signed by cosign or notation/);
        return true;
      },
    );
    const signed = await pushImageAs(wharf.url, 'library/skopeo-signed', '1.0', undefined);
    await cosignTagSchema(wharf.url, 'library/skopeo-signed', signed, key);
    await skopeo(['copy', `docker://${wharf.host}/library/skopeo-signed:1.0`, `dir:${join(work, 'signed')}`]);
    assert.notEqual(unsigned.digest, signed.digest);
  });
});

describe('signature policy in verified mode (policy.signatures)', () => {
  let wharf: WharfProcess;
  let work: string;
  const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const untrusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let notary: NotationSigner;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-signatures-verified-'));
    notary = await notationSigner('release');
    const keyFile = join(work, 'cosign.pub');
    const caFile = join(work, 'notation-ca.pem');
    await writeFile(keyFile, trusted.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(caFile, notary.ca.certificatePem);
    wharf = await startWharf({
      configYaml: [
        'policy:',
        '  signatures:',
        '    required: true',
        '    mode: verified',
        `    trustedkeys: [${JSON.stringify(keyFile)}]`,
        `    trustedcertificates: [${JSON.stringify(caFile)}]`,
      ].join('\n'),
    });
  });

  after(async () => {
    await wharf?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('serves an image whose cosign tag-schema signature verifies with a trusted key', async () => {
    const image = await pushImageAs(wharf.url, 'apps/api', '1.0', undefined);
    await cosignTagSchema(wharf.url, 'apps/api', image, trusted.privateKey);
    const pulled = await pull(wharf.url, 'apps/api', '1.0');
    assert.equal(pulled.status, 200, pulled.text());
  });

  it('serves an image whose cosign referrers-form signature verifies with a trusted key', async () => {
    const image = await pushImageAs(wharf.url, 'apps/web', '1.0', undefined);
    const signature = await cosignReferrer(wharf.url, 'apps/web', image, trusted.privateKey);
    const referrers = await call(wharf.url, 'GET', `/v2/apps/web/referrers/${image.digest}`, undefined);
    assert.equal(
      referrers.json<{ manifests: Descriptor[] }>().manifests[0]?.artifactType,
      'application/vnd.dev.cosign.artifact.sig.v1+json',
    );
    assert.equal((await pull(wharf.url, 'apps/web', '1.0')).status, 200);
    assert.equal((await pull(wharf.url, 'apps/web', signature.digest)).status, 200);
  });

  it('refuses an image signed only by an untrusted key', async () => {
    const image = await pushImageAs(wharf.url, 'apps/rogue', '1.0', undefined);
    await cosignTagSchema(wharf.url, 'apps/rogue', image, untrusted.privateKey);
    assertRefused(
      await pull(wharf.url, 'apps/rogue', '1.0'),
      'untrusted',
      /^The image is not signed by a trusted key\. .*verifies with one of its trusted keys/,
    );
  });

  it('refuses an image whose signature payload names another digest', async () => {
    const signedElsewhere = await pushImageAs(wharf.url, 'apps/replay', 'good', undefined);
    const image = await pushImageAs(wharf.url, 'apps/replay', '1.0', undefined);
    // A valid signature of another image, stored where this image's signature belongs.
    const payload = cosignPayload(signedElsewhere.digest, 'registry.example.com/apps/replay');
    const artifact = cosignSignatureArtifact(payload, cosignSign(trusted.privateKey, payload));
    await pushArtifact(wharf.url, 'apps/replay', cosignTag(image.digest), artifact.blobs, artifact.manifest, undefined);
    assertRefused(await pull(wharf.url, 'apps/replay', '1.0'), 'mismatch', /signature is for another image/);
  });

  it('serves the children of a signed index by digest, and refuses those of an unsigned one', async () => {
    const amd64 = await pushImageAs(wharf.url, 'apps/multi', 'amd64', undefined);
    const arm64 = await pushImageAs(wharf.url, 'apps/multi', 'arm64', undefined);
    const index = Buffer.from(
      JSON.stringify(
        ociIndex({
          manifests: [
            { ...descriptorOfImage(amd64), platform: { os: 'linux', architecture: 'amd64' } },
            { ...descriptorOfImage(arm64), platform: { os: 'linux', architecture: 'arm64' } },
          ],
        }),
      ),
    );
    await pushArtifact(wharf.url, 'apps/multi', '1.0', [], index, undefined, MediaType.ociIndex);
    assert.equal((await pull(wharf.url, 'apps/multi', arm64.digest)).status, 412);
    const payload = cosignPayload(sha256(index), 'registry.example.com/apps/multi');
    const artifact = cosignSignatureArtifact(payload, cosignSign(trusted.privateKey, payload));
    await pushArtifact(wharf.url, 'apps/multi', cosignTag(sha256(index)), artifact.blobs, artifact.manifest, undefined);
    assert.equal((await pull(wharf.url, 'apps/multi', '1.0')).status, 200);
    assert.equal((await pull(wharf.url, 'apps/multi', arm64.digest)).status, 200);
    assert.equal((await pull(wharf.url, 'apps/multi', amd64.digest)).status, 200);
    // Pulled by its own tag it is the same manifest, and the index's signature still covers it.
    assert.equal((await pull(wharf.url, 'apps/multi', 'arm64')).status, 200);
  });

  it('serves an image whose notation signature chains to the trusted CA, and refuses another CA', async () => {
    const image = await pushImageAs(wharf.url, 'apps/notarized', '1.0', undefined);
    await notationSign(wharf.url, 'apps/notarized', image, notary);
    assert.equal((await pull(wharf.url, 'apps/notarized', '1.0')).status, 200);
    const other = await pushImageAs(wharf.url, 'apps/notarized', '2.0', undefined);
    await notationSign(wharf.url, 'apps/notarized', other, await notationSigner('someone'));
    assertRefused(await pull(wharf.url, 'apps/notarized', '2.0'), 'untrusted', /not signed by a trusted key/);
  });

  it('forgets an allowed image once its signature is deleted', async () => {
    const image = await pushImageAs(wharf.url, 'apps/revoked', '1.0', undefined);
    const signature = await cosignTagSchema(wharf.url, 'apps/revoked', image, trusted.privateKey);
    assert.equal((await pull(wharf.url, 'apps/revoked', '1.0')).status, 200);
    const deleted = await call(wharf.url, 'DELETE', `/v2/apps/revoked/manifests/${signature.digest}`, undefined);
    assert.equal(deleted.status, 202);
    assertRefused(await pull(wharf.url, 'apps/revoked', '1.0'), 'unsigned', /not signed/);
  });
});

describe('signature policy off', () => {
  let wharf: WharfProcess;

  before(async () => {
    wharf = await startWharf();
  });

  after(async () => {
    await wharf?.close();
  });

  it('serves unsigned images and their signatures alike', async () => {
    const image = await pushImageAs(wharf.url, 'library/plain', '1.0', undefined);
    assert.equal((await pull(wharf.url, 'library/plain', '1.0')).status, 200);
    assert.equal((await pull(wharf.url, 'library/plain', image.digest, undefined, 'HEAD')).status, 200);
    const key = generateKeyPairSync('ed25519').privateKey;
    await cosignTagSchema(wharf.url, 'library/plain', image, key);
    assert.equal((await pull(wharf.url, 'library/plain', cosignTag(image.digest))).status, 200);
  });
});

describe("a project's signature policy", () => {
  let wharf: WharfProcess;
  const admin: Credentials = { username: 'admin', password: 'first-admin-password' };
  const owner: Credentials = { username: 'owner', password: 'owner-password-1' };
  const dev: Credentials = { username: 'dev', password: 'dev-password-1' };
  const key = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const publicPem = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    await createUser(wharf.url, admin, owner);
    await createUser(wharf.url, admin, dev);
    for (const project of ['team', 'free']) {
      await createProject(wharf.url, admin, project);
      await addMember(wharf.url, admin, project, owner.username, 'projectAdmin');
      await addMember(wharf.url, admin, project, dev.username, 'developer');
    }
  });

  after(async () => {
    await wharf?.close();
  });

  it('is off until a project admin sets it, and validated', async () => {
    const initial = await api(wharf.url, 'GET', '/projects/team/signature-policy', { as: dev });
    assert.equal(initial.status, 200);
    assert.deepEqual(initial.json(), {
      require_signatures: false,
      mode: 'presence',
      formats: ['cosign', 'notation'],
      trusted_keys: [],
      trusted_certificates: [],
      updated_at: null,
      updated_by: null,
    });
    const denied = await api(wharf.url, 'PUT', '/projects/team/signature-policy', {
      as: dev,
      body: { require_signatures: true },
    });
    assert.equal(denied.status, 403);
    const invalid = await api(wharf.url, 'PUT', '/projects/team/signature-policy', {
      as: owner,
      body: { require_signatures: true, mode: 'verified', trusted_keys: [{ name: 'ci', pem: 'nope' }] },
    });
    assert.equal(invalid.status, 400);
    assert.equal((firstError(invalid).detail as { path: string }[])[0]?.path, 'trusted_keys.0.pem');
  });

  it('refuses unsigned pulls in the project for everyone, administrators included, and records them', async () => {
    const set = await api(wharf.url, 'PUT', '/projects/team/signature-policy', {
      as: owner,
      body: {
        require_signatures: true,
        mode: 'verified',
        formats: ['cosign'],
        trusted_keys: [{ name: 'ci', pem: publicPem }],
      },
    });
    assert.equal(set.status, 200, set.text());
    assert.equal(set.json<{ updated_by: string }>().updated_by, 'owner');
    const image = await pushImageAs(wharf.url, 'team/app', '1.0', basicOf(dev));
    await pushImageAs(wharf.url, 'free/app', '1.0', basicOf(dev));
    for (const who of [dev, owner, admin]) {
      assertRefused(
        await pull(wharf.url, 'team/app', '1.0', basicOf(who)),
        'unsigned',
        /^The image is not signed by cosign\. team\/app:1\.0 .*: project team serves only images with a cosign signature that verifies with one of its trusted keys \(the signature policy of project team\)/,
      );
    }
    assert.equal((await pull(wharf.url, 'free/app', '1.0', basicOf(dev))).status, 200);
    await cosignTagSchema(wharf.url, 'team/app', image, key.privateKey, basicOf(dev));
    assert.equal((await pull(wharf.url, 'team/app', '1.0', basicOf(dev))).status, 200);

    const audit = await api(wharf.url, 'GET', '/projects/team/audit-logs?action=manifest.pull&outcome=failure', {
      as: owner,
    });
    assert.equal(audit.status, 200, audit.text());
    const entries = audit.json<Array<{ status: number; actor: string; detail: { error?: string } }>>();
    assert.ok(
      entries.some(
        (entry) => entry.status === 412 && entry.actor === 'dev' && entry.detail.error === 'PROJECTPOLICYVIOLATION',
      ),
      JSON.stringify(entries),
    );
  });

  it('adds little to a gated pull once the image was checked', async (t) => {
    const image = await pushImageAs(wharf.url, 'team/hot', '1.0', basicOf(dev));
    await cosignTagSchema(wharf.url, 'team/hot', image, key.privateKey, basicOf(dev));
    await pushImageAs(wharf.url, 'free/hot', '1.0', basicOf(dev));
    const auth = basicOf(dev);
    const measure = async (repo: string) => {
      for (let i = 0; i < 20; i++) assert.equal((await pull(wharf.url, repo, '1.0', auth)).status, 200);
      const started = process.hrtime.bigint();
      const rounds = 200;
      for (let i = 0; i < rounds; i++) await pull(wharf.url, repo, '1.0', auth);
      return Number(process.hrtime.bigint() - started) / 1e6 / rounds;
    };
    const ungated = await measure('free/hot');
    const gated = await measure('team/hot');
    const ungatedAgain = await measure('free/hot');
    t.diagnostic(
      `manifest GET by tag, mean of 200 sequential requests: gated ${gated.toFixed(3)} ms, ungated ${ungated.toFixed(3)} / ${ungatedAgain.toFixed(3)} ms`,
    );
  });

  it('allows everything again once switched off', async () => {
    await pushImageAs(wharf.url, 'team/later', '1.0', basicOf(dev));
    assert.equal((await pull(wharf.url, 'team/later', '1.0', basicOf(dev))).status, 412);
    const off = await api(wharf.url, 'PUT', '/projects/team/signature-policy', {
      as: owner,
      body: { require_signatures: false },
    });
    assert.equal(off.status, 200);
    assert.equal((await pull(wharf.url, 'team/later', '1.0', basicOf(dev))).status, 200);
  });
});
