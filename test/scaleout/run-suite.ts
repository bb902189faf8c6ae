/**
 * Runs the registry suite a second time on the scale-out backends: PostgreSQL for metadata, Ceph's
 * RADOS Gateway (S3) for blobs and Redis for the metadata cache, each started here on throwaway
 * ports and directories. `npm run test:scaleout`; the exit code is the test runner's.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { startCephRgw } from '../helpers/ceph-rgw.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { startRedis } from '../helpers/redis.ts';

const projectRoot = resolve(import.meta.dirname, '..', '..');
const suites = [
  'test/integration/protocol/base.test.ts',
  'test/integration/protocol/blobs.test.ts',
  'test/integration/protocol/uploads.test.ts',
  'test/integration/protocol/manifests.test.ts',
  'test/integration/protocol/referrers.test.ts',
  'test/integration/protocol/tags-catalog.test.ts',
  'test/integration/protocol/errors.test.ts',
  'test/integration/protocol/readonly.test.ts',
  'test/integration/skopeo.test.ts',
  'test/integration/concurrency.test.ts',
  'test/integration/crash-safety.test.ts',
  'test/integration/gc-online-race.test.ts',
  'test/integration/audit-log.test.ts',
  'test/integration/events-payloads.test.ts',
  'test/integration/proxy-cache.test.ts',
  'test/integration/lifecycle-deletion.test.ts',
  'test/integration/lifecycle-quota.test.ts',
  'test/integration/replication-policy-pull.test.ts',
  'test/integration/replication-policy-push.test.ts',
];

const postgres = await startPostgres();
const gateway = await startCephRgw();
const redis = await startRedis();
let exitCode = 1;
try {
  process.stderr.write(
    `scale-out suite: PostgreSQL ${postgres.baseUrl}, S3 ${gateway.endpoint}, Redis ${redis.address}\n`,
  );
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...suites],
    {
      cwd: projectRoot,
      stdio: 'inherit',
      env: {
        ...process.env,
        WHARF_TEST_DATABASE_URL_BASE: postgres.baseUrl,
        WHARF_TEST_S3_ENV: JSON.stringify(gateway.s3Environment('wharf-scaleout')),
        WHARF_TEST_REDIS_ADDR: redis.address,
      },
    },
  );
  exitCode = await new Promise<number>((done) => child.once('exit', (code) => done(code ?? 1)));
} finally {
  await Promise.allSettled([redis.stop(), gateway.stop(), postgres.stop()]);
}
process.exit(exitCode);
