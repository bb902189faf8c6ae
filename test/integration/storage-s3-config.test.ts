import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeStorage } from '../../src/composition/storage.ts';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { endpointUrl } from '../../src/storage/s3/s3-client.ts';

const MiB = 1024 * 1024;

describe('storage.s3 configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-s3-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  let files = 0;
  async function loadYaml(yaml: string) {
    const file = join(dir, `config-${++files}.yml`);
    await writeFile(file, yaml);
    return { file, ...(await loadConfig({ file, env: {}, cwd: dir })) };
  }

  async function problems(promise: Promise<unknown>): Promise<string> {
    try {
      await promise;
    } catch (error) {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      return error.message;
    }
    assert.fail('expected the configuration to be refused');
  }

  it('reads REGISTRY_STORAGE_S3_* variables and fills in Distribution defaults', async () => {
    const { config, warnings } = await loadConfig({
      env: {
        REGISTRY_STORAGE_S3_REGION: 'eu-west-1',
        REGISTRY_STORAGE_S3_BUCKET: 'images',
        REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://minio:9000',
        REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
        REGISTRY_STORAGE_S3_ACCESSKEY: 'AKIA',
        REGISTRY_STORAGE_S3_SECRETKEY: 'secret',
        REGISTRY_STORAGE_S3_CHUNKSIZE: '20971520',
      },
      cwd: dir,
    });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.storage.s3, {
      region: 'eu-west-1',
      bucket: 'images',
      regionendpoint: 'http://minio:9000',
      forcepathstyle: true,
      rootdirectory: '',
      accesskey: 'AKIA',
      secretkey: 'secret',
      encrypt: false,
      secure: true,
      skipverify: false,
      chunksize: 20 * MiB,
      multipartcopychunksize: 32 * MiB,
      multipartcopymaxconcurrency: 100,
      multipartcopythresholdsize: 32 * MiB,
      storageclass: 'STANDARD',
      maxrequestspersecond: 350,
    });
    assert.equal(describeStorage(config), 's3://images/ at http://minio:9000');
  });

  it("loads Distribution's documented example, warning about the keys it ignores", async () => {
    const { file, config, warnings } = await loadYaml(`storage:
  s3:
    accesskey: awsaccesskey
    secretkey: awssecretkey
    region: us-west-1
    regionendpoint: http://myobjects.local
    bucket: bucketname
    encrypt: true
    keyid: mykeyid
    secure: true
    v4auth: true
    chunksize: "5242880"
    multipartcopychunksize: 33554432
    multipartcopymaxconcurrency: 100
    multipartcopythresholdsize: 33554432
    rootdirectory: /s3/object/name/prefix
  redirect:
    disable: true
database:
  path: wharf.db
`);
    assert.deepEqual(warnings, [
      `storage.s3.v4auth: not implemented by Wharf yet and ignored; requests are always signed with AWS Signature Version 4 (${file}:11)`,
    ]);
    assert.equal(config.storage.s3?.chunksize, 5 * MiB);
    assert.equal(config.storage.s3?.encrypt, true);
    assert.equal(config.storage.s3?.keyid, 'mykeyid');
    assert.equal(config.storage.s3?.rootdirectory, '/s3/object/name/prefix');
    assert.equal(config.storage.redirect.disable, true);
    assert.equal(describeStorage(config), 's3://bucketname/s3/object/name/prefix/ at http://myobjects.local');
  });

  it('refuses a chunk size under S3’s 5 MiB part minimum', async () => {
    const message = await problems(
      loadConfig({
        env: {
          REGISTRY_STORAGE_S3_REGION: 'us-east-1',
          REGISTRY_STORAGE_S3_BUCKET: 'b',
          REGISTRY_STORAGE_S3_CHUNKSIZE: '1048576',
        },
      }),
    );
    assert.match(
      message,
      /storage\.s3\.chunksize: expected an integer of at least 5242880, got 1048576 \(set by REGISTRY_STORAGE_S3_CHUNKSIZE\)/,
    );
  });

  it('requires region and bucket', async () => {
    const message = await problems(loadYaml('storage:\n  s3:\n    regionendpoint: http://127.0.0.1:9000\n'));
    assert.match(message, /storage\.s3\.region: is required/);
    assert.match(message, /storage\.s3\.bucket: is required/);
  });

  it('refuses s3 beside the filesystem driver', async () => {
    const message = await problems(
      loadYaml('storage:\n  filesystem:\n    rootdirectory: /data\n  s3:\n    region: us-east-1\n    bucket: b\n'),
    );
    assert.match(message, /storage: exactly one storage driver may be configured, found filesystem, s3/);
  });

  it('turns a bare regionendpoint into a URL following secure', () => {
    assert.equal(endpointUrl('minio:9000', true), 'https://minio:9000');
    assert.equal(endpointUrl('minio:9000', false), 'http://minio:9000');
    assert.equal(endpointUrl('http://rgw.local:7480', true), 'http://rgw.local:7480');
  });
});
