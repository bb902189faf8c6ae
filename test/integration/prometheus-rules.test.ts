import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

/**
 * The shipped Prometheus files through Prometheus's own checker (Debian's `prometheus` package
 * provides `promtool`): the rules load, their unit tests on synthetic series pass (alerts fire
 * when they should and stay quiet when they should not), and the example scrape config is valid.
 */
const run = promisify(execFile);
const directory = resolve(import.meta.dirname, '..', '..', 'deploy', 'prometheus');

async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: directory });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { code?: number | string; stdout?: string; stderr?: string };
    if (failure.code === 'ENOENT') throw failure;
    return { code: Number(failure.code ?? 1), output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

async function promtoolAvailable(): Promise<boolean> {
  try {
    await run('promtool', ['--version']);
    return true;
  } catch {
    return false;
  }
}

const available = await promtoolAvailable();
if (!available && process.env.CI === 'true') {
  throw new Error('promtool is not installed: apt-get install prometheus (CI must run these tests)');
}
const skip = available ? false : 'promtool is not installed (apt-get install prometheus)';

describe('deploy/prometheus', { skip }, () => {
  it('alerts.yml passes promtool check rules', async () => {
    const result = await promtool('check', 'rules', 'alerts.yml');
    assert.equal(result.code, 0, result.output);
    const count = Number(/SUCCESS: (\d+) rules found/.exec(result.output)?.[1]);
    assert.ok(count >= 10, result.output);
  });

  it('the alerts fire on synthetic series as alerts.test.yml expects (promtool test rules)', async () => {
    const result = await promtool('test', 'rules', 'alerts.test.yml');
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /SUCCESS/);
  });

  it('prometheus.yml passes promtool check config, rule files included', async () => {
    const result = await promtool('check', 'config', 'prometheus.yml');
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /SUCCESS: 1 rule files found/);
  });
});
