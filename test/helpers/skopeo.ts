import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SkopeoOptions {
  /** Kill skopeo after this long; 120 s unless told. */
  timeoutMs?: number;
  /** Extra environment on top of the isolated one. */
  env?: Record<string, string>;
  /**
   * Verify the registry's TLS certificate instead of talking plain HTTP. `certDir` is given as
   * `--src-cert-dir`/`--dest-cert-dir` (`--cert-dir`): its `*.crt` files are trusted CAs and a
   * `*.cert` + `*.key` pair is presented as the client certificate. Without it only the system
   * roots are trusted.
   */
  tls?: { certDir?: string };
}

export interface SkopeoResult {
  stdout: string;
  stderr: string;
}

export class SkopeoError extends Error {
  constructor(
    readonly args: string[],
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`skopeo ${args.join(' ')} exited with ${exitCode}\n${stderr}`);
    this.name = 'SkopeoError';
  }
}

/**
 * Flags added right after the subcommand: plain HTTP to the local registry
 * (or verified TLS when `tls` is given), the empty auth file, the empty
 * registries.conf (skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF, so it has to
 * be the flag).
 */
function subcommandFlags(
  subcommand: string | undefined,
  sandbox: Sandbox,
  tls: SkopeoOptions['tls'] | undefined,
): string[] {
  const registriesConf = `--registries-conf=${sandbox.registriesConf}`;
  const verify = tls === undefined ? 'false' : 'true';
  const certDir = (flag: string) => (tls?.certDir === undefined ? [] : [`--${flag}=${tls.certDir}`]);
  switch (subcommand) {
    case 'copy':
    case 'sync':
      return [
        `--src-tls-verify=${verify}`,
        `--dest-tls-verify=${verify}`,
        ...certDir('src-cert-dir'),
        ...certDir('dest-cert-dir'),
        `--src-authfile=${sandbox.authFile}`,
        `--dest-authfile=${sandbox.authFile}`,
        registriesConf,
      ];
    case 'inspect':
    case 'list-tags':
    case 'delete':
      return [`--tls-verify=${verify}`, ...certDir('cert-dir'), `--authfile=${sandbox.authFile}`, registriesConf];
    default:
      return [];
  }
}

/**
 * Runs `skopeo <subcommand> ...args`: `args[0]` must be the subcommand (global
 * flags such as `--debug` or `--override-arch` go after it, where skopeo
 * accepts them too). It talks plain HTTP, with no credentials,
 * registries.conf, signature lookaside or trust policy of the machine's user:
 * HOME, XDG dirs, TMPDIR and every config file point into one throwaway
 * directory, and the policy accepts anything. Throws SkopeoError (with the
 * full stderr) on a non-zero exit.
 */
export function skopeo(args: string[], options: SkopeoOptions = {}): Promise<SkopeoResult> {
  const sandbox = skopeoSandbox();
  const [subcommand, ...rest] = args;
  const fullArgs = [
    `--policy=${sandbox.policy}`,
    `--registries.d=${sandbox.registriesD}`,
    `--tmpdir=${sandbox.tmp}`,
    ...(subcommand === undefined ? [] : [subcommand]),
    ...subcommandFlags(subcommand, sandbox, options.tls),
    ...rest,
  ];
  return new Promise((resolve, reject) => {
    execFile(
      'skopeo',
      fullArgs,
      {
        env: { ...sandbox.env, ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === 'number' ? error.code : null;
          reject(new SkopeoError(args, code, stdout, stderr || error.message));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

interface Sandbox {
  root: string;
  policy: string;
  registriesD: string;
  tmp: string;
  authFile: string;
  registriesConf: string;
  env: Record<string, string>;
}

let sandbox: Sandbox | undefined;

function skopeoSandbox(): Sandbox {
  if (sandbox) return sandbox;
  const root = mkdtempSync(join(tmpdir(), 'wharf-skopeo-'));
  const path = (...parts: string[]) => join(root, ...parts);
  for (const dir of ['home', 'run', 'config', 'data', 'tmp', 'registries.d']) mkdirSync(path(dir), { mode: 0o700 });
  writeFileSync(path('policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  writeFileSync(path('auth.json'), '{}');
  writeFileSync(path('registries.conf'), '');
  sandbox = {
    root,
    policy: path('policy.json'),
    registriesD: path('registries.d'),
    tmp: path('tmp'),
    authFile: path('auth.json'),
    registriesConf: path('registries.conf'),
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: path('home'),
      XDG_RUNTIME_DIR: path('run'),
      XDG_CONFIG_HOME: path('config'),
      XDG_DATA_HOME: path('data'),
      TMPDIR: path('tmp'),
      REGISTRY_AUTH_FILE: path('auth.json'),
    },
  };
  process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  return sandbox;
}
