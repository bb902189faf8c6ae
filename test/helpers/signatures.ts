import assert from 'node:assert/strict';
import { createHash, createPrivateKey, type KeyObject, sign, webcrypto } from 'node:crypto';
import { CertificateAuthority, type IssuedCertificate } from '../../src/http/tls/certificate-authority.ts';
import { call, pushBlobAs } from './auth.ts';
import { type Descriptor, descriptorOf, emptyDescriptor, MediaType, ociManifest, sha256 } from './http.ts';

/**
 * Signatures exactly as cosign and notation write them, made with node:crypto keys, for tests
 * (neither tool is installable here).
 *
 * cosign: sigstore/cosign specs/SIGNATURE_SPEC.md (the simple-signing payload, the
 * `dev.cosignproject.cosign/signature` annotation holding the base64 signature over the payload
 * blob's bytes) and pkg/oci/remote/write.go (the `sha256-<hex>.sig` tag scheme;
 * WriteSignaturesExperimentalOCI, whose manifest carries the subject and
 * `application/vnd.dev.cosign.artifact.sig.v1+json` as config.mediaType). cosign signs with
 * ECDSA (ASN.1 DER) over SHA-256, RSA PKCS#1 v1.5 over SHA-256, or Ed25519.
 *
 * notation: notaryproject/specifications specs/signature-specification.md (an OCI manifest with
 * artifactType `application/vnd.cncf.notary.signature`, the empty config, one
 * `application/jose+json` layer, the subject) and specs/signature-envelope-jws.md (JWS JSON
 * serialization; protected header with alg, crit, cty, signing scheme and time; x5c chain in the
 * unprotected header; payload `{"targetArtifact": <descriptor>}`).
 */

export const CosignMediaTypes = {
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  signatureArtifact: 'application/vnd.dev.cosign.artifact.sig.v1+json',
} as const;

/** The simple-signing payload cosign signs, byte for byte as cosign marshals it. */
export function cosignPayload(subjectDigest: string, dockerReference: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': dockerReference },
        image: { 'docker-manifest-digest': subjectDigest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

/** A cosign key-pair signature of `payload`, base64. */
export function cosignSign(privateKey: KeyObject, payload: Buffer): string {
  const algorithm = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return sign(algorithm, payload, privateKey).toString('base64');
}

/** The config blob cosign's signature image has: an empty image whose only layer is the payload. */
export function cosignConfig(payloadDigest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [payloadDigest] },
      config: {},
    }),
  );
}

export interface CosignSignatureArtifact {
  blobs: Buffer[];
  manifest: Buffer;
  digest: string;
}

/**
 * A cosign signature manifest over `payload` with `signature`: tag-schema form (no subject), or
 * with `subject` the OCI 1.1 referrers form.
 */
export function cosignSignatureArtifact(
  payload: Buffer,
  signature: string,
  subject?: Descriptor,
): CosignSignatureArtifact {
  const payloadDescriptor = descriptorOf(CosignMediaTypes.simpleSigning, payload, {
    annotations: { 'dev.cosignproject.cosign/signature': signature },
  });
  const config = cosignConfig(payloadDescriptor.digest);
  const configType = subject === undefined ? MediaType.ociConfig : CosignMediaTypes.signatureArtifact;
  const manifest = Buffer.from(
    JSON.stringify(ociManifest({ config: descriptorOf(configType, config), layers: [payloadDescriptor], subject })),
  );
  return { blobs: [config, payload], manifest, digest: sha256(manifest) };
}

/** cosign's tag for the signatures of `digest`. */
export function cosignTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

export interface NotationSigner {
  ca: CertificateAuthority;
  leaf: IssuedCertificate;
  privateKey: webcrypto.CryptoKey;
}

/** A CA and a signing certificate (ECDSA P-256) issued by it. */
export async function notationSigner(name: string): Promise<NotationSigner> {
  const ca = await CertificateAuthority.create({ commonName: `${name} CA`, days: 2 });
  const leaf = await ca.issueClientCertificate({ name, days: 1 });
  const der = createPrivateKey(leaf.keyPem).export({ type: 'pkcs8', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
  ]);
  return { ca, leaf, privateKey };
}

/** A notation JWS envelope (ES256) over `subject`, signed by the signer's certificate. */
export async function notationEnvelope(signer: NotationSigner, subject: Descriptor): Promise<Buffer> {
  const base64url = (value: Buffer | string) => Buffer.from(value).toString('base64url');
  const header = base64url(
    JSON.stringify({
      alg: 'ES256',
      crit: ['io.cncf.notary.signingScheme'],
      cty: 'application/vnd.cncf.notary.payload.v1+json',
      'io.cncf.notary.signingScheme': 'notary.x509',
      'io.cncf.notary.signingTime': new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    }),
  );
  const payload = base64url(JSON.stringify({ targetArtifact: subject }));
  const signature = Buffer.from(
    await webcrypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      signer.privateKey,
      Buffer.from(`${header}.${payload}`, 'ascii'),
    ),
  );
  const x5c = [signer.leaf.certificate, signer.ca.certificate].map((certificate) =>
    Buffer.from(certificate.rawData).toString('base64'),
  );
  return Buffer.from(
    JSON.stringify({
      payload,
      protected: header,
      header: { x5c, 'io.cncf.notary.signingAgent': 'notation-go/1.3.0' },
      signature: base64url(signature),
    }),
  );
}

/** The notation signature manifest for an envelope. */
export function notationArtifact(envelope: Buffer, subject: Descriptor, signer: NotationSigner): Buffer {
  const thumbprints = [signer.leaf.certificate, signer.ca.certificate].map((certificate) =>
    createHash('sha256').update(Buffer.from(certificate.rawData)).digest('hex'),
  );
  return Buffer.from(
    JSON.stringify(
      ociManifest({
        artifactType: 'application/vnd.cncf.notary.signature',
        config: emptyDescriptor,
        layers: [descriptorOf('application/jose+json', envelope)],
        subject,
        annotations: {
          'io.cncf.notary.x509chain.thumbprint#S256': JSON.stringify(thumbprints),
          'org.opencontainers.image.created': new Date().toISOString(),
        },
      }),
    ),
  );
}

/** Pushes blobs then a manifest, as a signing tool does; asserts 201 for each. */
export async function pushArtifact(
  base: string,
  repo: string,
  reference: string,
  blobs: readonly Buffer[],
  manifest: Buffer,
  authorization: string | undefined,
  mediaType: string = MediaType.ociManifest,
): Promise<void> {
  for (const blob of blobs) await pushBlobAs(base, repo, blob, authorization);
  const put = await call(base, 'PUT', `/v2/${repo}/manifests/${reference}`, authorization, {
    headers: { 'content-type': mediaType },
    body: manifest,
  });
  assert.equal(put.status, 201, `PUT ${repo}:${reference}: ${put.status} ${put.text()}`);
}
