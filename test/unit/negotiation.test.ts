import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MediaTypes } from '../../src/oci/media-types.ts';
import { negotiateManifest, parseAccept } from '../../src/oci/negotiation.ts';

describe('manifest content negotiation', () => {
  it('parses Accept lists with parameters and repeated headers', () => {
    const accepted = parseAccept([
      `${MediaTypes.ociManifest};q=0.9, ${MediaTypes.dockerManifest}`,
      MediaTypes.ociIndex,
    ]);
    assert.deepEqual(
      [...(accepted ?? [])].sort(),
      [MediaTypes.dockerManifest, MediaTypes.ociIndex, MediaTypes.ociManifest].sort(),
    );
    assert.equal(parseAccept(undefined), undefined);
    assert.equal(parseAccept('*/*'), undefined);
  });

  it('serves anything to a client that states no preference', () => {
    assert.equal(negotiateManifest(MediaTypes.ociManifest, undefined, true), 'serve');
  });

  it('refuses OCI manifests and indexes to a client that does not accept them', () => {
    const dockerOnly = parseAccept(MediaTypes.dockerManifest);
    assert.equal(negotiateManifest(MediaTypes.ociManifest, dockerOnly, true), 'not-acceptable');
    assert.equal(negotiateManifest(MediaTypes.ociIndex, dockerOnly, false), 'not-acceptable');
  });

  it('falls back to the default platform for a Docker list fetched by tag only', () => {
    const dockerOnly = parseAccept(MediaTypes.dockerManifest);
    assert.equal(negotiateManifest(MediaTypes.dockerManifestList, dockerOnly, true), 'default-platform');
    assert.equal(negotiateManifest(MediaTypes.dockerManifestList, dockerOnly, false), 'serve');
    assert.equal(negotiateManifest(MediaTypes.dockerManifest, parseAccept(MediaTypes.ociManifest), true), 'serve');
  });
});
