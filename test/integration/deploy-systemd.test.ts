import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const projectRoot = resolve(import.meta.dirname, '..', '..');
const unitPath = join(projectRoot, 'deploy', 'systemd', 'wharf.service');
const systemdAnalyze = '/usr/bin/systemd-analyze';

const available = existsSync(systemdAnalyze);
if (!available && process.env.CI === 'true') {
  throw new Error('systemd-analyze is not installed: apt-get install systemd (CI must run these tests)');
}
const skip = available ? false : 'systemd-analyze is not installed (apt-get install systemd)';

/** `Key=value` settings of one section of a unit file; a key set several times keeps each value. */
async function unitSection(section: string): Promise<Map<string, string[]>> {
  const settings = new Map<string, string[]>();
  let current = '';
  for (const raw of (await readFile(unitPath, 'utf8')).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1] ?? '';
      continue;
    }
    if (current !== section) continue;
    const [key = '', ...rest] = line.split('=');
    settings.set(key, [...(settings.get(key) ?? []), rest.join('=')]);
  }
  return settings;
}

describe('deploy/systemd/wharf.service', { skip }, () => {
  it('passes systemd-analyze verify', async () => {
    const { stdout, stderr } = await run(systemdAnalyze, ['verify', '--man=no', unitPath]).catch(
      (error: { stdout?: string; stderr?: string; message: string }) => {
        assert.fail(`systemd-analyze verify failed:\n${error.stderr ?? error.message}\n${error.stdout ?? ''}`);
      },
    );
    // verify exits 0 on warnings too: a warning about this unit is a defect all the same.
    const aboutUnit = `${stdout}\n${stderr}`.split('\n').filter((line) => line.includes('wharf.service'));
    assert.deepEqual(aboutUnit, []);
  });

  it('runs bin/wharf.js serve with the configuration in /etc/wharf and state in /var/lib/wharf', async () => {
    const service = await unitSection('Service');
    assert.deepEqual(service.get('ExecStart'), ['/usr/bin/node /opt/wharf/bin/wharf.js serve /etc/wharf/config.yml']);
    assert.deepEqual(service.get('StateDirectory'), ['wharf']);
    assert.deepEqual(service.get('WorkingDirectory'), ['/var/lib/wharf']);
    assert.deepEqual(service.get('KillSignal'), ['SIGTERM']);
  });

  it('is hardened: its own unprivileged user, no new privileges, a read-only system', async () => {
    const service = await unitSection('Service');
    const expected: Record<string, string> = {
      DynamicUser: 'yes',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictNamespaces: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      CapabilityBoundingSet: '',
      SystemCallFilter: '@system-service',
    };
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(service.get(key), [value], key);
  });

  it('rates as well hardened by systemd-analyze security', async () => {
    // `security` inspects a loaded unit of a running systemd; --offline reads the file instead (systemd 250+).
    const result = await run(systemdAnalyze, ['security', '--offline=yes', '--no-pager', unitPath]).catch(
      (error: { stdout?: string; stderr?: string }) => error,
    );
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    const exposure = /Overall exposure level for wharf\.service: (\d+\.\d+)/.exec(output);
    assert.ok(exposure, output);
    assert.ok(Number(exposure[1]) <= 2.5, `exposure ${exposure[1]} (0 is best, 10 worst):\n${output}`);
  });
});
