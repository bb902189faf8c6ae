import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { checkConfig } from '../helpers/config-check.ts';
import { blockBalance, type ChartFiles, hasValuesPath, readChart, valuesReferences } from '../helpers/helm-chart.ts';

const projectRoot = resolve(import.meta.dirname, '..', '..');

/**
 * The variables deployment.yaml sets, with the values it would give them for the default values
 * (embedded) and for a scale-out installation. Every REGISTRY_* name in the template must be in
 * one of these, so each one is checked by `wharf config check` below.
 */
const embeddedEnv = {
  REGISTRY_HTTP_ADDR: ':5000',
  REGISTRY_HTTP_DEBUG_ADDR: ':5001',
  REGISTRY_HTTP_SECRET: 'a-generated-secret',
  REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/var/lib/wharf',
};
const scaleOutEnv = {
  REGISTRY_HTTP_ADDR: ':5000',
  REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'false',
  REGISTRY_HTTP_SECRET: 'a-shared-secret',
  REGISTRY_STORAGE_S3_REGION: 'eu-west-1',
  REGISTRY_STORAGE_S3_BUCKET: 'registry',
  REGISTRY_STORAGE_S3_REGIONENDPOINT: 'https://minio.example.internal:9000',
  REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
  REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/wharf',
  REGISTRY_STORAGE_S3_ACCESSKEY: 'wharf',
  REGISTRY_STORAGE_S3_SECRETKEY: 'wharf-secret-key',
  REGISTRY_DATABASE_URL: 'postgres://wharf@postgres.example.internal:5432/wharf?sslmode=verify-full',
  REGISTRY_DATABASE_PASSWORD: 'database-password',
  REGISTRY_REDIS_ADDR: 'redis.example.internal:6379',
  REGISTRY_REDIS_PASSWORD: 'redis-password',
  REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'redis',
};

describe('deploy/helm/wharf', () => {
  let chart: ChartFiles;
  let work: string;

  before(async () => {
    chart = await readChart();
    work = await mkdtemp(join(tmpdir(), 'wharf-helm-'));
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("is a v2 chart whose appVersion is Wharf's version", async () => {
    const packageJson = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart.chart.apiVersion, 'v2');
    assert.equal(chart.chart.name, 'wharf');
    assert.equal(chart.chart.type, 'application');
    assert.match(String(chart.chart.version), /^\d+\.\d+\.\d+$/);
    assert.equal(chart.chart.appVersion, packageJson.version);
  });

  it('has a template for each resource, and notes', () => {
    for (const name of [
      '_helpers.tpl',
      'deployment.yaml',
      'service.yaml',
      'configmap.yaml',
      'secret.yaml',
      'pvc.yaml',
      'ingress.yaml',
      'hpa.yaml',
      'pdb.yaml',
      'servicemonitor.yaml',
      'serviceaccount.yaml',
      'NOTES.txt',
    ]) {
      assert.ok(chart.templates.has(name), name);
    }
  });

  it('names only values that values.yaml has', () => {
    const missing: string[] = [];
    let count = 0;
    for (const [name, template] of chart.templates) {
      for (const path of valuesReferences(template)) {
        count++;
        if (!hasValuesPath(chart.values, path)) missing.push(`${name}: .Values.${path}`);
      }
    }
    assert.deepEqual(missing, []);
    assert.ok(count > 80, `${count} references checked`);
  });

  it('closes every template action and block it opens', () => {
    for (const [name, template] of chart.templates) {
      const balance = blockBalance(template);
      assert.equal(balance.unclosedActions, 0, `${name}: {{ without }}`);
      assert.equal(balance.opened, balance.closed, `${name}: ${balance.opened} blocks opened, ${balance.closed} ended`);
    }
  });

  it('defaults to one non-root pod on a volume, replaced on update, with probes on /healthz and /readyz', () => {
    const values = chart.values as {
      replicaCount: number;
      persistence: { enabled: boolean };
      externalDatabase: { enabled: boolean };
      autoscaling: { enabled: boolean };
      podSecurityContext: { runAsNonRoot: boolean; runAsUser: number };
      securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
      ingress: { annotations: Record<string, string> };
    };
    assert.equal(values.replicaCount, 1);
    assert.equal(values.persistence.enabled, true);
    assert.equal(values.externalDatabase.enabled, false);
    assert.equal(values.autoscaling.enabled, false);
    assert.equal(values.podSecurityContext.runAsNonRoot, true);
    assert.equal(values.podSecurityContext.runAsUser, 10001, 'the image USER');
    assert.equal(values.securityContext.readOnlyRootFilesystem, true);
    assert.equal(values.securityContext.allowPrivilegeEscalation, false);
    assert.equal(values.ingress.annotations['nginx.ingress.kubernetes.io/proxy-body-size'], '0');
    assert.equal(values.ingress.annotations['nginx.ingress.kubernetes.io/proxy-request-buffering'], 'off');
    const deployment = chart.templates.get('deployment.yaml') ?? '';
    assert.match(deployment, /type: Recreate/);
    assert.match(deployment, /type: RollingUpdate/);
    assert.match(deployment, /readinessProbe:\s+httpGet:\s+path: \/readyz/);
    assert.match(deployment, /livenessProbe:\s+httpGet:\s+path: \/healthz/);
    assert.match(deployment, /checksum\/config: \{\{ include \(print \$\.Template\.BasePath "\/configmap\.yaml"\)/);
    assert.match(chart.templates.get('configmap.yaml') ?? '', /toYaml \.Values\.config \| nindent 4/);
  });

  it('sets only variables that the configuration checks below cover', () => {
    const named = new Set((chart.templates.get('deployment.yaml') ?? '').match(/REGISTRY_[A-Z0-9_]+/g));
    const covered = new Set([...Object.keys(embeddedEnv), ...Object.keys(scaleOutEnv)]);
    assert.deepEqual(
      [...named].filter((name) => !covered.has(name)),
      [],
    );
    assert.deepEqual(
      [...covered].filter((name) => !named.has(name)),
      [],
    );
  });

  it('renders a configuration that wharf config check accepts without warnings, embedded and scaled out', async () => {
    // configmap.yaml writes .Values.config as it stands (toYaml).
    const file = join(work, 'config.yml');
    await writeFile(file, stringify(chart.values.config));
    for (const env of [embeddedEnv, scaleOutEnv]) {
      const checked = checkConfig(file, env);
      assert.equal(checked.status, 0, checked.stderr);
      assert.equal(checked.stderr, '');
    }
  });
});
