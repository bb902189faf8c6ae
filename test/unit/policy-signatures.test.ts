import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  cosignSignatureLayers,
  signedDigestOf,
  verifyCosignSignature,
} from '../../src/policy/signatures/cosign-signature.ts';
import { verifyNotationJws } from '../../src/policy/signatures/notation-signature.ts';
import {
  cosignSignatureTag,
  hasImageConfig,
  isCosignAttachmentManifest,
} from '../../src/policy/signatures/signature-formats.ts';
import {
  parseTrustedCertificate,
  parseTrustedKey,
  TrustMaterialError,
  trustSetId,
} from '../../src/policy/signatures/trusted-keys.ts';
import { descriptorOf, MediaType, sha256 } from '../helpers/http.ts';
import {
  cosignPayload,
  cosignSign,
  cosignSignatureArtifact,
  notationEnvelope,
  notationSigner,
} from '../helpers/signatures.ts';

const subject = sha256(Buffer.from('the image manifest'));
const other = sha256(Buffer.from('another image manifest'));

function keyPair(type: 'P-256' | 'P-384' | 'rsa' | 'ed25519'): { privateKey: KeyObject; publicPem: string } {
  const pair =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : type === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: type });
  return { privateKey: pair.privateKey, publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

describe('cosign signatures', () => {
  for (const type of ['P-256', 'P-384', 'rsa', 'ed25519'] as const) {
    it(`verify with a trusted ${type} key and not with another`, () => {
      const signer = keyPair(type);
      const stranger = keyPair(type);
      const payload = cosignPayload(subject, 'registry.example.com/team/app');
      const signature = cosignSign(signer.privateKey, payload);
      const trusted = [parseTrustedKey('ci', signer.publicPem)];
      assert.equal(verifyCosignSignature(payload, signature, subject, trusted), 'verified');
      assert.equal(
        verifyCosignSignature(payload, signature, subject, [parseTrustedKey('x', stranger.publicPem)]),
        'untrusted',
      );
    });
  }

  it('refuse a payload that names another image, even when validly signed', () => {
    const signer = keyPair('P-256');
    const trusted = [parseTrustedKey('ci', signer.publicPem)];
    const payload = cosignPayload(other, 'registry.example.com/team/app');
    assert.equal(
      verifyCosignSignature(payload, cosignSign(signer.privateKey, payload), subject, trusted),
      'wrong-subject',
    );
  });

  it('refuse a payload changed after signing', () => {
    const signer = keyPair('P-256');
    const trusted = [parseTrustedKey('ci', signer.publicPem)];
    const signed = cosignPayload(subject, 'registry.example.com/team/app');
    const signature = cosignSign(signer.privateKey, signed);
    const tampered = cosignPayload(subject, 'registry.example.com/team/other');
    assert.equal(verifyCosignSignature(tampered, signature, subject, trusted), 'untrusted');
    assert.equal(verifyCosignSignature(signed, 'bm90IGEgc2lnbmF0dXJl', subject, trusted), 'untrusted');
  });

  it('read the signed digest only from a simple-signing payload', () => {
    assert.equal(signedDigestOf(cosignPayload(subject, 'r/a')), subject);
    assert.equal(
      signedDigestOf(Buffer.from('{"critical":{"image":{"docker-manifest-digest":"sha256:1"}}}')),
      undefined,
    );
    assert.equal(signedDigestOf(Buffer.from('not json')), undefined);
  });

  it('find the signature layers of a signature manifest', () => {
    const payload = cosignPayload(subject, 'r/a');
    const artifact = cosignSignatureArtifact(payload, 'c2ln');
    assert.deepEqual(cosignSignatureLayers(artifact.manifest), [
      { digest: sha256(payload), size: payload.length, signature: 'c2ln' },
    ]);
    assert.ok(isCosignAttachmentManifest(artifact.manifest));
    const image = Buffer.from(
      JSON.stringify({
        config: descriptorOf(MediaType.ociConfig, Buffer.from('{}')),
        layers: [descriptorOf(MediaType.ociLayer, Buffer.from('layer'))],
      }),
    );
    assert.deepEqual(cosignSignatureLayers(image), []);
    assert.equal(isCosignAttachmentManifest(image), false);
    assert.ok(hasImageConfig(image));
    const sbom = Buffer.from(
      JSON.stringify({ config: descriptorOf(MediaType.ociEmpty, Buffer.from('{}')), layers: [] }),
    );
    assert.equal(hasImageConfig(sbom), false);
  });

  it('name the fallback tag as cosign does', () => {
    assert.equal(cosignSignatureTag(subject), `sha256-${subject.slice('sha256:'.length)}.sig`);
  });
});

describe('trusted keys', () => {
  it('refuse what is not a usable public key', () => {
    assert.throws(() => parseTrustedKey('junk', 'not a pem'), TrustMaterialError);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' });
    assert.throws(() => parseTrustedKey('small', small.toString()), /at least 2048 bits/);
    const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    assert.throws(() => parseTrustedKey('k1', secp256k1.toString()), /unsupported elliptic curve/);
  });

  it('identify a set by its members, not their order', () => {
    const a = parseTrustedKey('a', keyPair('P-256').publicPem);
    const b = parseTrustedKey('b', keyPair('ed25519').publicPem);
    assert.equal(trustSetId([a, b], []), trustSetId([b, a], []));
    assert.notEqual(trustSetId([a], []), trustSetId([a, b], []));
  });
});

describe('notation JWS signatures', () => {
  const target = { mediaType: MediaType.ociManifest, digest: subject, size: 1234 };

  it('verify against the trusted CA or the signing certificate, not another CA', async () => {
    const signer = await notationSigner('signer');
    const stranger = await notationSigner('stranger');
    const envelope = await notationEnvelope(signer, target);
    const ca = parseTrustedCertificate('ca', signer.ca.certificatePem);
    const leaf = parseTrustedCertificate('leaf', signer.leaf.certificatePem);
    assert.equal(verifyNotationJws(envelope, subject, [ca]), 'verified');
    assert.equal(verifyNotationJws(envelope, subject, [leaf]), 'verified');
    assert.equal(
      verifyNotationJws(envelope, subject, [parseTrustedCertificate('other', stranger.ca.certificatePem)]),
      'untrusted',
    );
  });

  it('refuse an envelope for another image or with a changed payload', async () => {
    const signer = await notationSigner('signer');
    const ca = parseTrustedCertificate('ca', signer.ca.certificatePem);
    const envelope = await notationEnvelope(signer, { ...target, digest: other });
    assert.equal(verifyNotationJws(envelope, subject, [ca]), 'wrong-subject');
    const jws = JSON.parse((await notationEnvelope(signer, target)).toString()) as Record<string, string>;
    const changed = { ...target, size: 99 };
    jws.payload = Buffer.from(JSON.stringify({ targetArtifact: changed })).toString('base64url');
    assert.equal(verifyNotationJws(Buffer.from(JSON.stringify(jws)), subject, [ca]), 'untrusted');
  });
});
