import { relative } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { ClientCertificateFiles, ServerCertificateFiles } from '../http/tls/certificate-directory.ts';

/** Loaded when a certificate is made, so other commands (serve) do not load the X.509 library. */
const certificateDirectory = () => import('../http/tls/certificate-directory.ts');

/** 825 days: the longest validity Apple platforms accept for a TLS server certificate. */
const defaultDays = 825;

const serverHelp = `
What it writes into --out (created if missing, keys mode 0600):
  ca.crt, ca.key       a private certificate authority, created on the first run and
                       reused afterwards: clients that trust it keep working when the
                       server certificate is renewed. Keep ca.key private.
  server.crt, server.key
                       the registry's certificate, for every --host as a DNS or IP
                       subjectAltName (serverAuth), signed by the CA. Replaced on each run.

Then:
  - Wharf: http.tls.certificate = server.crt, http.tls.key = server.key
    (REGISTRY_HTTP_TLS_CERTIFICATE / REGISTRY_HTTP_TLS_KEY); a running Wharf picks up
    renewed files by itself or on SIGHUP.
  - Docker: copy ca.crt to /etc/docker/certs.d/<host>:<port>/ca.crt on each client.
    No "insecure-registries" entry in daemon.json is needed, nor a daemon restart.
  - Podman, Buildah, Skopeo, CRI-O: /etc/containers/certs.d/<host>:<port>/ca.crt
    (rootless: ~/.config/containers/certs.d/...).
  - containerd: a hosts.toml with ca = ".../ca.crt" under /etc/containerd/certs.d/<host>:<port>/.
  - Client certificates (mTLS): http.tls.clientcas = ca.crt, then "wharf cert client".
The command prints these steps with your paths and hosts. docs/tls.md has the details.

Examples:
  wharf cert --out /etc/wharf/tls --host registry.example.com --host 10.0.0.5
  wharf cert --out ./tls --host localhost --host 127.0.0.1 --port 5000
  wharf cert client --ca-dir /etc/wharf/tls --name alice --out ./alice`;

const clientHelp = `
Writes <name>.cert and <name>.key (mode 0600) into --out, signed by the CA in --ca-dir
(ca.crt + ca.key, as made by "wharf cert"), and copies ca.crt beside them: the directory
can be copied as is to /etc/docker/certs.d/<host>:<port>/ or /etc/containers/certs.d/<host>:<port>/,
or given to skopeo --cert-dir. Docker, Podman and Skopeo present any *.cert with its *.key.

Wharf must list the CA in http.tls.clientcas (REGISTRY_HTTP_TLS_CLIENTCAS). A request whose
certificate the registry verifies is identified by the certificate's name (the subject CN);
a client without a certificate can still log in with a password or token.

Example:
  wharf cert client --ca-dir /etc/wharf/tls --name alice --out ./alice --registry registry.example.com:5000`;

export function certCommand(): Command {
  // --out and --days belong to "cert" and are read by "cert client" as global options: Commander
  // hands options written after a subcommand to its parent unless the whole program is positional.
  const cert = new Command('cert')
    .description('create a private CA and a TLS server certificate for the registry (and client certificates)')
    .option('-o, --out <dir>', 'output directory (required)')
    .option('--host <name>', 'DNS name or IP address clients use to reach the registry (repeat for each)', collect, [])
    .option('--days <days>', 'validity of the new certificate in days', positiveInteger, defaultDays)
    .option('--port <port>', 'the registry port clients use, for the printed certs.d paths', positiveInteger, 5000)
    .addHelpText('after', serverHelp)
    .action(async (options: { out?: string; host: string[]; days: number; port: number }) => {
      if (options.out === undefined) fail('give the output directory: --out DIR');
      if (options.host.length === 0) {
        fail('give at least one --host: every name and address clients will use, e.g. --host registry.example.com');
      }
      const { writeServerCertificate } = await certificateDirectory();
      const files = await writeServerCertificate(options.out, { hosts: options.host, days: options.days }).catch(fail);
      process.stdout.write(serverReport(files, options.host, options.port, options.days));
    });

  cert
    .command('client')
    .description('create a client certificate (CN=<name>) signed by the CA of "wharf cert"')
    .requiredOption('--ca-dir <dir>', 'directory holding ca.crt and ca.key')
    .requiredOption('--name <name>', 'the client identity, the certificate subject CN (a user or robot name)')
    .option('--registry <host:port>', 'the registry as clients name it, for the printed paths')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', clientHelp)
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<{
        caDir: string;
        name: string;
        registry?: string;
        out?: string;
        host: string[];
        days: number;
      }>();
      if (options.out === undefined) fail('give the output directory: --out DIR');
      if (options.host.length > 0) fail('--host is for the server certificate; a client certificate has a --name');
      const { writeClientCertificate } = await certificateDirectory();
      const files = await writeClientCertificate(options.caDir, options.out, {
        name: options.name,
        days: options.days,
      }).catch(fail);
      process.stdout.write(clientReport(files, options));
    });
  return cert;
}

function serverReport(files: ServerCertificateFiles, hosts: readonly string[], port: number, days: number): string {
  const registries = hosts.map((host) => registryName(host, port));
  const first = registries[0]!;
  const ca = files.caCertificate;
  const lines = [
    files.createdCa
      ? `Created a certificate authority: ${ca} (private key ${files.caKey}; keep it private)`
      : `Reused the certificate authority in ${files.dir} (ca.crt, ca.key): clients that trust it need no change`,
    `Wrote the server certificate for ${hosts.join(', ')}, valid ${days} days:`,
    `  ${files.serverCertificate}`,
    `  ${files.serverKey}`,
    '',
    'Next steps',
    '',
    '1. Serve TLS with it. In the Wharf config file:',
    '',
    '     http:',
    '       tls:',
    `         certificate: ${files.serverCertificate}`,
    `         key: ${files.serverKey}`,
    `         # clientcas: [${ca}]   # to accept client certificates (mTLS)`,
    '',
    '   or in the environment:',
    '',
    `     REGISTRY_HTTP_TLS_CERTIFICATE=${files.serverCertificate}`,
    `     REGISTRY_HTTP_TLS_KEY=${files.serverKey}`,
    '',
    '   A running Wharf picks up renewed files by itself (or on SIGHUP), without dropping connections.',
    '',
    `2. Make each client trust the CA (copy ca.crt only, never ca.key). Shown for ${first};`,
    `   repeat for every name clients use (${registries.join(', ')}).`,
    '',
    '   Docker (on each machine that pushes or pulls):',
    '',
    `     sudo mkdir -p /etc/docker/certs.d/${first}`,
    `     sudo cp ${ca} /etc/docker/certs.d/${first}/ca.crt`,
    '',
    '   Docker reads it on the next pull: no restart, and no "insecure-registries" entry in',
    '   /etc/docker/daemon.json (remove the registry from that list if it is there).',
    '',
    '   Podman, Buildah, Skopeo, CRI-O:',
    '',
    `     sudo mkdir -p /etc/containers/certs.d/${first}`,
    `     sudo cp ${ca} /etc/containers/certs.d/${first}/ca.crt`,
    `     (rootless: ~/.config/containers/certs.d/${first}/ca.crt; skopeo also takes --cert-dir)`,
    '',
    `   containerd (Kubernetes nodes; its CRI registry config_path must be /etc/containerd/certs.d):`,
    '',
    `     sudo mkdir -p /etc/containerd/certs.d/${first}`,
    `     sudo cp ${ca} /etc/containerd/certs.d/${first}/ca.crt`,
    `     /etc/containerd/certs.d/${first}/hosts.toml:`,
    `       server = "https://${first}"`,
    `       [host."https://${first}"]`,
    `         ca = "/etc/containerd/certs.d/${first}/ca.crt"`,
    '',
    `   curl and other tools: curl --cacert ${ca} https://${first}/v2/`,
    '',
    '3. Optional, client certificates (mTLS): set http.tls.clientcas to the CA above, then',
    '',
    `     wharf cert client --ca-dir ${displayPath(files.dir)} --name alice --out ./alice --registry ${first}`,
    '',
  ];
  return `${lines.join('\n')}\n`;
}

function clientReport(
  files: ClientCertificateFiles,
  options: { caDir: string; name: string; registry?: string },
): string {
  const registry = options.registry ?? '<host>:<port>';
  const lines = [
    `Wrote the client certificate CN=${options.name}:`,
    `  ${files.certificate}`,
    `  ${files.key}`,
    `  ${files.caCertificate} (the CA certificate, to trust the registry)`,
    '',
    'Next steps',
    '',
    `1. Wharf must accept this CA: http.tls.clientcas: [${displayPath(options.caDir)}/ca.crt]`,
    '   (or REGISTRY_HTTP_TLS_CLIENTCAS). Requests with this certificate are identified as',
    `   "${options.name}"; clients without one can still log in with a password or token.`,
    '',
    '2. Docker (it presents any *.cert with its *.key found there):',
    '',
    `     sudo mkdir -p /etc/docker/certs.d/${registry}`,
    `     sudo cp ${files.certificate} ${files.key} ${files.caCertificate} /etc/docker/certs.d/${registry}/`,
    '',
    `   Podman, Buildah, Skopeo: the same three files in /etc/containers/certs.d/${registry}/,`,
    `   or skopeo --cert-dir ${files.dir}`,
    '',
    `   curl: curl --cacert ${files.caCertificate} --cert ${files.certificate} --key ${files.key} https://${registry}/v2/`,
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** `host:port` as clients write it: IPv6 in brackets, no port for 443. */
function registryName(host: string, port: number): string {
  const name = host.includes(':') ? `[${host}]` : host;
  return port === 443 ? name : `${name}:${port}`;
}

function displayPath(path: string): string {
  const fromHere = relative(process.cwd(), path);
  return fromHere !== '' && !fromHere.startsWith('..') ? `./${fromHere}` : path;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((part) => part.trim())].filter((part) => part !== '');
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a whole number above 0');
  return parsed;
}

function fail(error: unknown): never {
  process.stderr.write(`wharf cert: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
