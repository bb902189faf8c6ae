import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { chartDir } from './helm-chart.ts';

const run = promisify(execFile);

/** The helm binary: WHARF_TEST_HELM (set by .ci/run, which installs one), else `helm` on PATH. */
export async function findHelm(): Promise<string | undefined> {
  const candidates = [process.env.WHARF_TEST_HELM, 'helm'].filter((path): path is string => Boolean(path));
  for (const candidate of candidates) {
    if (candidate.includes('/') && !existsSync(candidate)) continue;
    try {
      await run(candidate, ['version', '--short']);
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function helm(binary: string, args: readonly string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(binary, [...args], { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : 1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? '',
    };
  }
}

/** A Kubernetes object as `helm template` prints it. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: unknown;
  data?: Record<string, string>;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef: { name: string; key: string } };
}

export interface Probe {
  httpGet: { path: string; port: string };
}

/** The parts of a Deployment the tests read. */
export interface DeploymentSpec {
  replicas?: number;
  strategy: { type: string };
  template: {
    metadata: { annotations: Record<string, string> };
    spec: {
      securityContext: Record<string, unknown>;
      automountServiceAccountToken: boolean;
      containers: {
        image: string;
        args: string[];
        env: EnvVar[];
        securityContext: Record<string, unknown>;
        startupProbe: Probe;
        livenessProbe: Probe;
        readinessProbe: Probe;
        volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
      }[];
      volumes: { name: string; persistentVolumeClaim?: { claimName: string }; emptyDir?: object }[];
    };
  };
}

export function deploymentSpec(manifests: readonly Manifest[]): DeploymentSpec {
  return only(manifests, 'Deployment').spec as DeploymentSpec;
}

/** `helm template RELEASE deploy/helm/wharf` with extra arguments (`-f FILE`, `--set k=v`). */
export async function renderChart(binary: string, release: string, args: readonly string[] = []): Promise<Manifest[]> {
  const result = await helm(binary, ['template', release, chartDir, ...args]);
  if (result.code !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

export function only(manifests: readonly Manifest[], kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  const [first] = found;
  if (first === undefined || found.length > 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return first;
}
