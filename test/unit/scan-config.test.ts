import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';

describe('scan and policy.vulnerabilities config', () => {
  it('reads the gate and the schedule from variables', async () => {
    const { config } = await loadConfig({
      env: {
        REGISTRY_POLICY_VULNERABILITIES_BLOCKSEVERITY: 'High',
        REGISTRY_POLICY_VULNERABILITIES_BLOCKUNSCANNED: 'true',
        REGISTRY_SCAN_SCHEDULE: '0 3 * * *',
        REGISTRY_SCAN_INTERVAL: '5s',
      },
      cwd: '/srv/wharf',
    });
    assert.deepEqual(config.policy.vulnerabilities, { blockseverity: 'high', blockunscanned: true });
    assert.deepEqual(config.scan, { enabled: true, interval: 5_000, schedule: '0 3 * * *' });
  });

  it('refuses a schedule that is not a cron expression and an unknown severity', async () => {
    await assert.rejects(
      loadConfig({ env: { REGISTRY_SCAN_SCHEDULE: 'every night' }, cwd: '/srv/wharf' }),
      /scan\.schedule: not a cron expression/,
    );
    await assert.rejects(
      loadConfig({ env: { REGISTRY_POLICY_VULNERABILITIES_BLOCKSEVERITY: 'severe' }, cwd: '/srv/wharf' }),
      /policy\.vulnerabilities\.blockseverity: expected one of "none", "low", "medium", "high", "critical"/,
    );
  });
});
