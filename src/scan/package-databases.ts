/** One installed package, as a vulnerability database names it. */
export interface InstalledPackage {
  /** The OSV ecosystem: `Debian:12`, `Ubuntu:22.04:LTS`, `Alpine:v3.20`. */
  ecosystem: string;
  name: string;
  version: string;
  /** The source package advisories name (Debian's `Source:`, Alpine's `o:` origin); the name when none. */
  sourceName: string;
  /** The source package's version (differs from `version` for binNMUs); `version` when none. */
  sourceVersion: string;
  /** Which package manager's database it came from. */
  type: 'deb' | 'apk';
}

/** A package before the OS (and so the ecosystem) is known. */
export type ListedPackage = Omit<InstalledPackage, 'ecosystem'>;

/**
 * Debian's `var/lib/dpkg/status` (and distroless's `status.d/*`): RFC 822-style stanzas; only
 * packages whose `Status` says installed count (a stanza without `Status`, as in status.d, does).
 */
export function parseDpkgStatus(text: string): ListedPackage[] {
  const packages: ListedPackage[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      if (line.startsWith(' ') || line.startsWith('\t')) continue;
      const colon = line.indexOf(':');
      if (colon > 0) fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    const name = fields.get('package');
    const version = fields.get('version');
    if (!name || !version) continue;
    const status = fields.get('status');
    if (status !== undefined && !/\binstalled$/.test(status)) continue;
    const source = /^(\S+)(?:\s+\(([^)]+)\))?/.exec(fields.get('source') ?? '');
    packages.push({
      name,
      version,
      sourceName: source?.[1] ?? name,
      sourceVersion: source?.[2] ?? version,
      type: 'deb',
    });
  }
  return packages;
}

/** Alpine's `lib/apk/db/installed`: stanzas of one-letter keys (`P:` name, `V:` version, `o:` origin). */
export function parseApkInstalled(text: string): ListedPackage[] {
  const packages: ListedPackage[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    let name: string | undefined;
    let version: string | undefined;
    let origin: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('P:')) name = line.slice(2).trim();
      else if (line.startsWith('V:')) version = line.slice(2).trim();
      else if (line.startsWith('o:')) origin = line.slice(2).trim();
    }
    if (!name || !version) continue;
    packages.push({ name, version, sourceName: origin ?? name, sourceVersion: version, type: 'apk' });
  }
  return packages;
}

export interface OperatingSystem {
  id: string;
  versionId: string;
  versionCodename?: string;
  prettyName?: string;
}

/** `etc/os-release`: shell-style KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): OperatingSystem | undefined {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] && match[2] !== undefined) values.set(match[1], match[2].replace(/^(["'])(.*)\1$/, '$2'));
  }
  const id = values.get('ID');
  if (!id) return undefined;
  return {
    id,
    versionId: values.get('VERSION_ID') ?? '',
    versionCodename: values.get('VERSION_CODENAME'),
    prettyName: values.get('PRETTY_NAME'),
  };
}

/**
 * The OSV ecosystem of an OS: `Debian:12` (the major release), `Alpine:v3.20` (major.minor with a
 * `v`), `Ubuntu:22.04:LTS` (or `Ubuntu:23.10` between long-term releases). An
 * unknown OS gets the bare family name, which no release's records match.
 */
export function ecosystemOf(os: OperatingSystem | undefined, type: ListedPackage['type']): string {
  if (!os) return type === 'deb' ? 'Debian' : 'Alpine';
  switch (os.id) {
    case 'debian':
      return os.versionId ? `Debian:${os.versionId.split('.')[0]}` : 'Debian';
    case 'alpine': {
      const [major, minor] = os.versionId.split('.');
      return major && minor ? `Alpine:v${major}.${minor}` : 'Alpine';
    }
    case 'ubuntu': {
      // OSV names long-term releases (even years, April) `Ubuntu:22.04:LTS`.
      const lts = /^\d*[02468]\.04$/.test(os.versionId);
      return lts ? `Ubuntu:${os.versionId}:LTS` : `Ubuntu:${os.versionId}`;
    }
    default:
      return type === 'deb' ? 'Debian' : 'Alpine';
  }
}
