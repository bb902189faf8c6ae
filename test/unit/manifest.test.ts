import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from '../../src/oci/digest.ts';
import { RegistryError } from '../../src/oci/errors.ts';
import { maxManifestBytes, parseManifest } from '../../src/oci/manifest.ts';
import { MediaTypes } from '../../src/oci/media-types.ts';

const config = { mediaType: MediaTypes.ociConfig, digest: digestOf(Buffer.from('{}')), size: 2 };
const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(Buffer.from('x')), size: 1 };

function bytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function assertInvalid(action: () => unknown, code = 'MANIFEST_INVALID', pattern?: RegExp) {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof RegistryError);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

describe('manifest parsing', () => {
  it('parses an OCI image manifest and lists its blobs', () => {
    const parsed = parseManifest(
      bytes({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [layer] }),
      MediaTypes.ociManifest,
    );
    assert.equal(parsed.mediaType, MediaTypes.ociManifest);
    assert.deepEqual(
      parsed.blobs.map((blob) => blob.digest),
      [config.digest, layer.digest],
    );
    assert.equal(parsed.artifactType, MediaTypes.ociConfig);
    assert.equal(parsed.subject, undefined);
  });

  it('takes artifactType and subject from an OCI artifact', () => {
    const subject = { mediaType: MediaTypes.ociManifest, digest: digestOf(Buffer.from('s')), size: 10 };
    const parsed = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        artifactType: 'application/vnd.example.sbom',
        config: { mediaType: MediaTypes.ociEmpty, digest: digestOf(Buffer.from('{}')), size: 2 },
        layers: [],
        subject,
        annotations: { a: 'b' },
      }),
      MediaTypes.ociManifest,
    );
    assert.equal(parsed.artifactType, 'application/vnd.example.sbom');
    assert.equal(parsed.subject?.digest, subject.digest);
    assert.deepEqual(parsed.annotations, { a: 'b' });
  });

  it('parses an index and a Docker manifest list', () => {
    const child = {
      mediaType: MediaTypes.ociManifest,
      digest: digestOf(Buffer.from('c')),
      size: 5,
      platform: { os: 'linux', architecture: 'amd64' },
    };
    const oci = parseManifest(
      bytes({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [child] }),
      MediaTypes.ociIndex,
    );
    assert.deepEqual(
      oci.manifests.map((entry) => entry.digest),
      [child.digest],
    );
    const docker = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifestList,
        manifests: [{ ...child, mediaType: MediaTypes.dockerManifest }],
      }),
      MediaTypes.dockerManifestList,
    );
    assert.equal(docker.mediaType, MediaTypes.dockerManifestList);
  });

  it('infers an OCI media type when both the field and the header are absent', () => {
    assert.equal(
      parseManifest(bytes({ schemaVersion: 2, config, layers: [] }), undefined).mediaType,
      MediaTypes.ociManifest,
    );
    assert.equal(parseManifest(bytes({ schemaVersion: 2, manifests: [] }), undefined).mediaType, MediaTypes.ociIndex);
  });

  it('rejects schema 1 with a message that says so', () => {
    assertInvalid(
      () =>
        parseManifest(bytes({ schemaVersion: 1, name: 'a', tag: 'b', fsLayers: [] }), MediaTypes.dockerSchema1Signed),
      'MANIFEST_INVALID',
      /schema 1/,
    );
  });

  it('rejects malformed manifests', () => {
    assertInvalid(() => parseManifest(Buffer.from('{not json'), MediaTypes.ociManifest), 'MANIFEST_INVALID', /JSON/);
    assertInvalid(() => parseManifest(bytes([1, 2]), MediaTypes.ociManifest));
    assertInvalid(() => parseManifest(bytes({ schemaVersion: 3, config, layers: [] }), MediaTypes.ociManifest));
    assertInvalid(
      () =>
        parseManifest(
          bytes({
            schemaVersion: 2,
            mediaType: MediaTypes.ociManifest,
            config,
            layers: [{ ...layer, digest: 'sha256:nope' }],
          }),
          MediaTypes.ociManifest,
        ),
      'MANIFEST_INVALID',
      /layers\[0\]\.digest/,
    );
    assertInvalid(
      () =>
        parseManifest(
          bytes({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { ...config, size: -1 }, layers: [] }),
          MediaTypes.ociManifest,
        ),
      'MANIFEST_INVALID',
      /config\.size/,
    );
    assertInvalid(
      () =>
        parseManifest(
          bytes({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, config, layers: [] }),
          MediaTypes.ociManifest,
        ),
      'MANIFEST_INVALID',
      /does not match/,
    );
    assertInvalid(
      () => parseManifest(bytes({ schemaVersion: 2, mediaType: 'text/plain', config, layers: [] }), 'text/plain'),
      'MANIFEST_INVALID',
      /unsupported/,
    );
    assertInvalid(() =>
      parseManifest(
        bytes({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config, layers: [] }),
        MediaTypes.dockerManifest,
      ),
    );
  });

  it('rejects a manifest over 4 MiB with 413 SIZE_INVALID', () => {
    const huge = Buffer.alloc(maxManifestBytes + 1, 0x20);
    assert.throws(
      () => parseManifest(huge, MediaTypes.ociManifest),
      (error: unknown) => error instanceof RegistryError && error.code === 'SIZE_INVALID' && error.status === 413,
    );
  });
});
