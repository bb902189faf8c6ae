import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const projectRoot = resolve(import.meta.dirname, '..', '..');

/** The example configuration operators copy; tests run it, so what is documented is what works. */
export const deployedSitePath = join(projectRoot, 'deploy', 'nginx', 'wharf.conf');
export const nginxBinary = '/usr/sbin/nginx';

export interface Nginx {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, for skopeo's `docker://` references. */
  host: string;
  /** Everything nginx printed so far (its error log goes to stderr). */
  output(): string;
  /** Stops nginx and removes its directory. */
  close(): Promise<void>;
}

/**
 * The deployed site configuration with the test's instances as the upstream, listening on plain
 * HTTP on `listen`: the redirecting port-80 server goes, the TLS server keeps every directive but
 * its certificate. Throws when deploy/nginx/wharf.conf no longer has the shape this relies on.
 */
export function siteForTest(site: string, upstreams: readonly string[], listen: string): string {
  const serverLine = /^([ \t]*)server[ \t]+10\.0\.0\.\d+:5000([^;\n]*);[ \t]*\n/gm;
  const examples = [...site.matchAll(serverLine)];
  const first = examples[0];
  if (!first) throw new Error(`${deployedSitePath}: no example upstream servers`);
  const [, indent, parameters] = first;
  const servers = upstreams.map((upstream) => `${indent}server ${upstream}${parameters};\n`).join('');
  let rendered = site.replace(serverLine, (_line, _indent, _parameters, offset: number) =>
    offset === first.index ? servers : '',
  );
  rendered = replaceOnce(rendered, /^server \{[^{}]*return 301[^{}]*\}\n/m, '', 'the redirecting server');
  rendered = replaceOnce(rendered, /^([ \t]*)listen 443 ssl;/m, `$1listen ${listen};`, 'listen 443 ssl');
  rendered = replaceOnce(rendered, /^[ \t]*listen \[::\]:443 ssl;\n/m, '', 'listen [::]:443 ssl');
  return rendered.replace(/^[ \t]*ssl_[a-z_]+ [^;]*;\n/gm, '');
}

function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  if (!pattern.test(text)) throw new Error(`${deployedSitePath}: ${what} not found`);
  return text.replace(pattern, replacement);
}

/** The main configuration around a site file, everything kept inside `dir`. */
function mainConfig(siteFile: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid nginx.pid;
error_log stderr notice;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    include ${siteFile};
}
`;
}

/** `nginx -t` on the deployed configuration as it stands, with a throwaway certificate. */
export async function checkDeployedConfig(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-nginx-check-'));
  try {
    const certificate = join(dir, 'registry.crt');
    const key = join(dir, 'registry.key');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=registry.example.com',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      certificate,
    ]);
    const site = (await readFile(deployedSitePath, 'utf8'))
      .replace('/etc/nginx/tls/registry.example.com.crt', certificate)
      .replace('/etc/nginx/tls/registry.example.com.key', key);
    await writeFile(join(dir, 'wharf.conf'), site);
    await writeFile(join(dir, 'nginx.conf'), mainConfig(join(dir, 'wharf.conf')));
    await mkdir(join(dir, 'tmp'));
    const { stderr } = await run(nginxBinary, ['-t', '-p', `${dir}/`, '-c', 'nginx.conf', '-e', 'stderr']);
    return stderr;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Starts nginx in front of `upstreams` (`HOST:PORT` each) with the deployed site configuration, on
 * a free port outside the kernel's ephemeral range, run as `nginx -p DIR -c nginx.conf -e stderr`.
 */
export async function startNginx(upstreams: readonly string[]): Promise<Nginx> {
  const site = await readFile(deployedSitePath, 'utf8');
  return startNginxSite((listen) => siteForTest(site, upstreams, listen));
}

/**
 * Starts nginx with the site `render` returns for the address it must listen on (`127.0.0.1:PORT`),
 * the same way as startNginx.
 */
export async function startNginxSite(render: (listen: string) => string): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-nginx-'));
  await mkdir(join(dir, 'tmp'));
  await writeFile(join(dir, 'nginx.conf'), mainConfig(join(dir, 'wharf.conf')));
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    await writeFile(join(dir, 'wharf.conf'), render(`127.0.0.1:${port}`));
    try {
      return await launch(dir, port);
    } catch (error) {
      lastError = error;
      if (!String(error).includes('Address already in use')) break;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

async function launch(dir: string, port: number): Promise<Nginx> {
  const child = spawn(nginxBinary, ['-p', `${dir}/`, '-c', 'nginx.conf', '-e', 'stderr'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.once('error', (error) => {
    output += String(error);
  });
  await waitForPort(child, port, () => output);
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    output: () => output,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(child: ChildProcess, port: number, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nginx exited with ${child.exitCode ?? child.signalCode}:\n${output()}`);
    }
    if (await accepts(port)) return;
    await new Promise((done) => setTimeout(done, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`nginx did not listen on ${port} within 10 s:\n${output()}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** A port nobody listens on, below the ephemeral range (32768+) and away from Ceph's 6800-7300. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((done) => {
      const server = createServer();
      server.once('error', () => done(false));
      server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
    });
    if (free) return port;
  }
}
