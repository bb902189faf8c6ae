import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { checkConfig } from '../helpers/config-check.ts';
import { deploymentSpec, type EnvVar, findHelm, helm, type Manifest, only, renderChart } from '../helpers/helm.ts';
import { chartDir, readChart } from '../helpers/helm-chart.ts';
import { startWharf } from '../helpers/wharf.ts';

const helmBinary = await findHelm();
if (helmBinary === undefined && process.env.CI === 'true') {
  throw new Error('helm is not installed: .ci/run installs one and sets WHARF_TEST_HELM (CI must run these tests)');
}
const skip = helmBinary ? false : 'helm is not installed (set WHARF_TEST_HELM, or see .ci/run)';

const scaleOutValues = {
  image: { repository: 'registry.example.com/wharf', tag: '0.1.0-test' },
  replicaCount: 3,
  persistence: { enabled: false },
  httpSecret: { value: 'shared-http-secret' },
  externalDatabase: { enabled: true, url: 'postgres://wharf@postgres.db.svc:5432/wharf', password: 'db-password' },
  s3: {
    enabled: true,
    region: 'eu-west-1',
    bucket: 'acme-registry',
    regionendpoint: 'https://minio.storage.svc:9000',
    forcepathstyle: true,
    accessKey: 'wharf',
    secretKey: 's3-secret-key',
  },
  redis: { enabled: true, addr: 'redis.cache.svc:6379', password: 'redis-password' },
  ingress: { enabled: true, tls: [{ secretName: 'registry-tls', hosts: ['registry.example.com'] }] },
  podDisruptionBudget: { enabled: true },
  metrics: { serviceMonitor: { enabled: true } },
};

/** The container's variables with their values, secretKeyRefs resolved against the rendered Secrets. */
function resolvedEnv(manifests: readonly Manifest[], env: readonly EnvVar[]): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const variable of env) {
    if (variable.value !== undefined) {
      resolved[variable.name] = variable.value;
      continue;
    }
    const ref = variable.valueFrom?.secretKeyRef;
    assert.ok(ref, `${variable.name} has a value or a secretKeyRef`);
    const secret = manifests.find((manifest) => manifest.kind === 'Secret' && manifest.metadata.name === ref.name);
    const encoded = secret?.data?.[ref.key];
    assert.ok(encoded !== undefined, `${variable.name}: Secret ${ref.name} has key ${ref.key}`);
    resolved[variable.name] = Buffer.from(encoded, 'base64').toString('utf8');
  }
  return resolved;
}

describe('deploy/helm/wharf rendered by helm', { skip }, () => {
  const binary = helmBinary as string;
  let work: string;
  let scaleOutFile: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-helm-render-'));
    scaleOutFile = join(work, 'scale-out.yaml');
    await writeFile(scaleOutFile, stringify(scaleOutValues));
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('passes helm lint --strict, embedded and scaled out', async () => {
    for (const args of [[], ['-f', scaleOutFile]]) {
      const result = await helm(binary, ['lint', '--strict', chartDir, ...args]);
      assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, /0 chart\(s\) failed/);
    }
  });

  describe('with the default values', () => {
    let manifests: Manifest[];

    before(async () => {
      manifests = await renderChart(binary, 'registry');
    });

    it('is one non-root pod on a PersistentVolumeClaim, replaced on update', () => {
      assert.deepEqual(manifests.map((manifest) => manifest.kind).sort(), [
        'ConfigMap',
        'Deployment',
        'PersistentVolumeClaim',
        'Secret',
        'Service',
        'ServiceAccount',
      ]);
      const spec = deploymentSpec(manifests);
      assert.equal(spec.replicas, 1);
      assert.equal(spec.strategy.type, 'Recreate');
      const pod = spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.securityContext.runAsUser, 10001);
      assert.equal(pod.automountServiceAccountToken, false);
      const [container] = pod.containers;
      assert.ok(container);
      assert.equal(container.image, 'wharf:0.1.0');
      assert.equal(container.securityContext.readOnlyRootFilesystem, true);
      assert.deepEqual(container.securityContext.capabilities, { drop: ['ALL'] });
      assert.equal(container.livenessProbe.httpGet.path, '/healthz');
      assert.equal(container.readinessProbe.httpGet.path, '/readyz');
      const data = pod.volumes.find((volume) => volume.name === 'data');
      assert.equal(data?.persistentVolumeClaim?.claimName, only(manifests, 'PersistentVolumeClaim').metadata.name);
      assert.deepEqual(
        container.volumeMounts.map((mount) => mount.mountPath),
        ['/etc/wharf', '/var/lib/wharf', '/tmp'],
      );
    });

    it('writes values.config into the ConfigMap unchanged', async () => {
      const { values } = await readChart();
      const config = parse(only(manifests, 'ConfigMap').data?.['config.yml'] ?? '');
      assert.deepEqual(config, values.config);
    });

    it("starts Wharf with the rendered configuration and variables, its probes' paths answering 200", async () => {
      const spec = deploymentSpec(manifests);
      const [container] = spec.template.spec.containers;
      assert.ok(container);
      const env = resolvedEnv(manifests, container.env);
      assert.ok((env.REGISTRY_HTTP_SECRET ?? '').length >= 32, 'a generated http.secret');
      const configFile = join(work, 'embedded.yml');
      await writeFile(configFile, only(manifests, 'ConfigMap').data?.['config.yml'] ?? '');
      const checked = checkConfig(configFile, env);
      assert.equal(checked.status, 0, checked.stderr);
      assert.equal(checked.stderr, '');

      const dataDir = join(work, 'embedded-data');
      await mkdir(dataDir);
      const wharf = await startWharf({
        dataDir,
        configYaml: only(manifests, 'ConfigMap').data?.['config.yml'] ?? '',
        filesystemStorage: false,
        // The pod's variables, with its addresses and data directory moved to this machine's test ones.
        env: {
          ...env,
          REGISTRY_HTTP_ADDR: '127.0.0.1:0',
          REGISTRY_HTTP_DEBUG_ADDR: '127.0.0.1:0',
          REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dataDir,
        },
      });
      try {
        // Two servers start: the registry, and the debug server that REGISTRY_HTTP_DEBUG_ADDR adds.
        const registry = /"msg":"listening on (http:\/\/[^"]+)"/.exec(wharf.output())?.[1];
        const debug = /"msg":"debug server listening on (http:\/\/[^"]+)"/.exec(wharf.output())?.[1];
        assert.ok(registry && debug, wharf.output());
        for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
          const response = await fetch(`${registry}${probe.httpGet.path}`);
          assert.equal(response.status, 200, probe.httpGet.path);
        }
        assert.equal((await fetch(`${debug}/metrics`)).status, 200, 'metrics on the debug port');
        assert.equal((await fetch(`${registry}/metrics`)).status, 404, 'and only there');
      } finally {
        await wharf.stop();
      }
    });

    it('rolls the pods when the configuration changes', async () => {
      const changed = await renderChart(binary, 'registry', ['--set', 'config.log.level=debug']);
      const annotation = (list: Manifest[]) => deploymentSpec(list).template.metadata.annotations['checksum/config'];
      assert.match(annotation(manifests) ?? '', /^[0-9a-f]{64}$/);
      assert.notEqual(annotation(changed), annotation(manifests));
    });
  });

  describe('scaled out on PostgreSQL, S3 and Redis', () => {
    let manifests: Manifest[];

    before(async () => {
      manifests = await renderChart(binary, 'registry', ['-f', scaleOutFile]);
    });

    it('is three stateless pods rolled one by one, with an ingress, a disruption budget and a ServiceMonitor', () => {
      assert.deepEqual(manifests.map((manifest) => manifest.kind).sort(), [
        'ConfigMap',
        'Deployment',
        'Ingress',
        'PodDisruptionBudget',
        'Secret',
        'Service',
        'ServiceAccount',
        'ServiceMonitor',
      ]);
      const spec = deploymentSpec(manifests);
      assert.equal(spec.replicas, 3);
      assert.equal(spec.strategy.type, 'RollingUpdate');
      assert.ok(spec.template.spec.volumes.find((volume) => volume.name === 'data')?.emptyDir);
      const ingress = only(manifests, 'Ingress');
      assert.equal(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-body-size'], '0');
      assert.equal(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-request-buffering'], 'off');
    });

    it('gives every pod a configuration wharf config check accepts, secrets from the Secret', async () => {
      const [container] = deploymentSpec(manifests).template.spec.containers;
      assert.ok(container);
      const secretNames = container.env.filter((variable) => variable.valueFrom).map((variable) => variable.name);
      assert.deepEqual(secretNames.sort(), [
        'REGISTRY_DATABASE_PASSWORD',
        'REGISTRY_HTTP_SECRET',
        'REGISTRY_REDIS_PASSWORD',
        'REGISTRY_STORAGE_S3_ACCESSKEY',
        'REGISTRY_STORAGE_S3_SECRETKEY',
      ]);
      const env = resolvedEnv(manifests, container.env);
      assert.equal(env.REGISTRY_HTTP_SECRET, 'shared-http-secret');
      assert.equal(env.REGISTRY_STORAGE_S3_SECRETKEY, 's3-secret-key');
      assert.equal(env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY, undefined);
      const configFile = join(work, 'scale-out.yml');
      await writeFile(configFile, only(manifests, 'ConfigMap').data?.['config.yml'] ?? '');
      const checked = checkConfig(configFile, env);
      assert.equal(checked.status, 0, checked.stderr);
      assert.equal(checked.stderr, '');
    });

    it('reads secrets from existing Secrets when named, and stores none of them', async () => {
      const rendered = await renderChart(binary, 'registry', [
        '-f',
        scaleOutFile,
        '--set',
        'httpSecret.existingSecret=wharf-http,externalDatabase.existingSecret=wharf-db,s3.existingSecret=wharf-s3,redis.existingSecret=wharf-redis',
      ]);
      assert.equal(
        rendered.some((manifest) => manifest.kind === 'Secret'),
        false,
      );
      const [container] = deploymentSpec(rendered).template.spec.containers;
      const refs = Object.fromEntries(
        (container?.env ?? [])
          .filter((variable) => variable.valueFrom)
          .map((variable) => [variable.name, variable.valueFrom?.secretKeyRef]),
      );
      assert.deepEqual(refs, {
        REGISTRY_HTTP_SECRET: { name: 'wharf-http', key: 'http-secret' },
        REGISTRY_DATABASE_PASSWORD: { name: 'wharf-db', key: 'password' },
        REGISTRY_STORAGE_S3_ACCESSKEY: { name: 'wharf-s3', key: 'accesskey' },
        REGISTRY_STORAGE_S3_SECRETKEY: { name: 'wharf-s3', key: 'secretkey' },
        REGISTRY_REDIS_PASSWORD: { name: 'wharf-redis', key: 'password' },
      });
    });
  });

  it('refuses several replicas that would not share their state', async () => {
    for (const [args, message] of [
      [['--set', 'replicaCount=2'], /need externalDatabase\.enabled/],
      [['--set', 'autoscaling.enabled=true'], /need externalDatabase\.enabled/],
      [
        ['--set', 'replicaCount=2,externalDatabase.enabled=true,externalDatabase.url=postgres://wharf@db/wharf'],
        /cannot share a ReadWriteOnce volume/,
      ],
      [
        [
          '--set',
          'replicaCount=2,externalDatabase.enabled=true,externalDatabase.url=postgres://wharf@db/wharf,persistence.enabled=false',
        ],
        /need s3\.enabled, or persistence on a ReadWriteMany volume/,
      ],
    ] as const) {
      const result = await helm(binary, ['template', 'registry', chartDir, ...args]);
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, message);
    }
  });
});
