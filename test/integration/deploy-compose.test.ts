import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { checkConfig } from '../helpers/config-check.ts';

const run = promisify(execFile);
const projectRoot = resolve(import.meta.dirname, '..', '..');
const composeDir = join(projectRoot, 'deploy', 'compose');
const dockerCompose = '/usr/bin/docker-compose';

const available = existsSync(dockerCompose);
if (!available && process.env.CI === 'true') {
  throw new Error('docker-compose is not installed: apt-get install docker-compose (CI must run these tests)');
}
const skip = available ? false : 'docker-compose is not installed (apt-get install docker-compose)';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string | null>;
  ports?: unknown[];
  volumes?: unknown[];
  depends_on?: Record<string, { condition: string }>;
  command?: string[] | string;
  entrypoint?: string[] | string;
  healthcheck?: { test: string[] };
}

interface Project {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

interface Rendered {
  code: number;
  stdout: string;
  stderr: string;
}

/** `docker-compose -f FILE config`: validates and interpolates without a Docker engine. */
async function composeConfig(file: string, env: Record<string, string>): Promise<Rendered> {
  try {
    const { stdout, stderr } = await run(dockerCompose, ['--project-directory', composeDir, '-f', file, 'config'], {
      cwd: composeDir,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** The secrets of scale-out.env.example, each given a value of its own so mix-ups show. */
async function exampleSecrets(): Promise<Record<string, string>> {
  const text = await readFile(join(composeDir, 'scale-out.env.example'), 'utf8');
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1]) env[match[1]] = `${match[1].toLowerCase()}-value`;
  }
  return env;
}

/** `- "HOST:CONTAINER"` or the long form, as `HOST:CONTAINER`. */
function portMapping(port: unknown): string {
  if (typeof port === 'string') return port.replace(/\/tcp$/, '');
  const long = port as { published?: number | string; target?: number | string };
  return `${long.published}:${long.target}`;
}

/** `SOURCE:TARGET[:MODE]` or the long form, as `SOURCE:TARGET`. */
function volumeMapping(volume: unknown): string {
  if (typeof volume === 'string') return volume.split(':').slice(0, 2).join(':');
  const long = volume as { source?: string; target?: string };
  return `${long.source}:${long.target}`;
}

describe('deploy/compose', { skip }, () => {
  describe('compose.yml', () => {
    let project: Project;

    before(async () => {
      const rendered = await composeConfig('compose.yml', {});
      assert.equal(rendered.code, 0, rendered.stderr);
      project = parse(rendered.stdout) as Project;
    });

    it('is one Wharf built from this checkout with its data in a named volume', () => {
      assert.deepEqual(Object.keys(project.services), ['wharf']);
      const wharf = project.services.wharf as Service;
      assert.equal(wharf.image, 'wharf:latest');
      assert.equal(wharf.build?.context, projectRoot);
      assert.equal(wharf.build?.dockerfile, 'deploy/docker/Dockerfile');
      assert.deepEqual((wharf.ports ?? []).map(portMapping), ['5000:5000']);
      assert.deepEqual((wharf.volumes ?? []).map(volumeMapping), ['wharf-data:/var/lib/wharf']);
      assert.ok(project.volumes && 'wharf-data' in project.volumes);
    });

    it('takes the port and image from the environment', async () => {
      const rendered = await composeConfig('compose.yml', {
        WHARF_PORT: '5080',
        WHARF_IMAGE: 'registry.example.com/wharf:1',
      });
      assert.equal(rendered.code, 0, rendered.stderr);
      const wharf = (parse(rendered.stdout) as Project).services.wharf as Service;
      assert.deepEqual((wharf.ports ?? []).map(portMapping), ['5080:5000']);
      assert.equal(wharf.image, 'registry.example.com/wharf:1');
    });
  });

  describe('compose.scale-out.yml', () => {
    let secrets: Record<string, string>;
    let project: Project;

    before(async () => {
      secrets = await exampleSecrets();
      const rendered = await composeConfig('compose.scale-out.yml', secrets);
      assert.equal(rendered.code, 0, rendered.stderr);
      project = parse(rendered.stdout) as Project;
    });

    it('refuses to render while a secret is unset, naming it', async () => {
      for (const name of Object.keys(secrets)) {
        const { [name]: _left, ...others } = secrets;
        const rendered = await composeConfig('compose.scale-out.yml', others);
        assert.notEqual(rendered.code, 0, `renders without ${name}`);
        assert.match(rendered.stderr, new RegExp(`set ${name}`));
      }
    });

    it('runs two identical Wharf instances behind nginx, with PostgreSQL, Redis, MinIO and a bucket-creating job', () => {
      assert.deepEqual(Object.keys(project.services).sort(), [
        'minio',
        'minio-init',
        'nginx',
        'postgres',
        'redis',
        'wharf-1',
        'wharf-2',
      ]);
      const [first, second] = [project.services['wharf-1'], project.services['wharf-2']] as [Service, Service];
      assert.deepEqual(first, second);
      assert.deepEqual(first.depends_on, {
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        'minio-init': { condition: 'service_completed_successfully' },
      });
      assert.equal(first.ports, undefined, 'the instances are reached through nginx only');
      const nginx = project.services.nginx as Service;
      assert.deepEqual((nginx.ports ?? []).map(portMapping), ['5000:80']);
      assert.deepEqual((nginx.volumes ?? []).map(volumeMapping), [
        `${join(composeDir, 'nginx.conf')}:/etc/nginx/conf.d/default.conf`,
      ]);
      assert.deepEqual((first.volumes ?? []).map(volumeMapping), [
        `${join(composeDir, 'wharf.scale-out.yml')}:/etc/wharf/config.yml`,
      ]);
      for (const service of Object.values(project.services)) {
        for (const volume of (service.volumes ?? []).map(volumeMapping)) {
          const source = volume.split(':')[0] ?? '';
          if (source.startsWith('/')) assert.ok(existsSync(source), `${source} exists`);
        }
      }
      const init = JSON.stringify([
        project.services['minio-init']?.entrypoint,
        project.services['minio-init']?.command,
      ]);
      assert.match(init, /mc mb --ignore-existing local\/wharf/);
    });

    it('hands every secret to the services that need it, from the environment only', () => {
      const wharf = project.services['wharf-1']?.environment ?? {};
      assert.deepEqual(wharf, {
        REGISTRY_HTTP_SECRET: secrets.WHARF_HTTP_SECRET,
        REGISTRY_DATABASE_PASSWORD: secrets.WHARF_DATABASE_PASSWORD,
        REGISTRY_STORAGE_S3_ACCESSKEY: secrets.WHARF_S3_ACCESS_KEY,
        REGISTRY_STORAGE_S3_SECRETKEY: secrets.WHARF_S3_SECRET_KEY,
        REGISTRY_REDIS_PASSWORD: secrets.WHARF_REDIS_PASSWORD,
      });
      assert.equal(project.services.postgres?.environment?.POSTGRES_PASSWORD, secrets.WHARF_DATABASE_PASSWORD);
      assert.equal(project.services.minio?.environment?.MINIO_ROOT_USER, secrets.WHARF_S3_ACCESS_KEY);
      assert.equal(project.services.minio?.environment?.MINIO_ROOT_PASSWORD, secrets.WHARF_S3_SECRET_KEY);
      assert.deepEqual(project.services['minio-init']?.environment, project.services.minio?.environment);
      assert.equal(project.services.redis?.environment?.REDISCLI_AUTH, secrets.WHARF_REDIS_PASSWORD);
      const redis = project.services.redis?.command;
      assert.ok(Array.isArray(redis));
      assert.equal(redis[redis.indexOf('--requirepass') + 1], secrets.WHARF_REDIS_PASSWORD);
    });

    it("gives the instances a configuration wharf config check accepts, with compose's variables, without warnings", () => {
      const environment = project.services['wharf-1']?.environment ?? {};
      const env = Object.fromEntries(Object.entries(environment).map(([name, value]) => [name, value ?? '']));
      const checked = checkConfig(join(composeDir, 'wharf.scale-out.yml'), env);
      assert.equal(checked.status, 0, checked.stderr);
      assert.equal(checked.stderr, '');
      assert.match(checked.stdout, /configuration OK/);
    });
  });
});
