import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { LayeredFiles, packagesOf } from '../../src/scan/image-packages.ts';
import { readLayerFiles } from '../../src/scan/layer-files.ts';
import { parseApkInstalled, parseDpkgStatus, parseOsRelease } from '../../src/scan/package-databases.ts';

type Entry = { name: string; content?: string; link?: string; directory?: boolean };

async function layerOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise((resolve) => pack.on('end', resolve));
  for (const entry of entries) {
    if (entry.directory) pack.entry({ name: entry.name, type: 'directory' });
    else if (entry.link) pack.entry({ name: entry.name, type: 'symlink', linkname: entry.link });
    else pack.entry({ name: entry.name }, entry.content ?? '');
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

const osRelease = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n';
const status = [
  'Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u1\nSource: openssl\nDescription: SSL\n more text: here\n',
  'Package: removed-one\nStatus: deinstall ok config-files\nVersion: 1.0-1\n',
  'Package: libc6\nStatus: install ok installed\nSource: glibc (2.36-9+deb12u3)\nVersion: 2.36-9+deb12u3+b1\n',
].join('\n');

describe('package databases', () => {
  it('parses dpkg status: installed only, source names and versions, continuation lines ignored', () => {
    assert.deepEqual(parseDpkgStatus(status), [
      {
        name: 'libssl3',
        version: '3.0.11-1~deb12u1',
        sourceName: 'openssl',
        sourceVersion: '3.0.11-1~deb12u1',
        type: 'deb',
      },
      {
        name: 'libc6',
        version: '2.36-9+deb12u3+b1',
        sourceName: 'glibc',
        sourceVersion: '2.36-9+deb12u3',
        type: 'deb',
      },
    ]);
  });

  it("parses this machine's real dpkg status file", async () => {
    const text = await readFile('/var/lib/dpkg/status', 'utf8');
    const packages = parseDpkgStatus(text);
    assert.ok(packages.length > 50, `${packages.length} packages`);
    const dpkg = packages.find((item) => item.name === 'dpkg');
    assert.ok(dpkg, 'dpkg itself is installed');
    assert.match(dpkg.version, /^\d/);
  });

  it('parses apk installed with origins', () => {
    const text = 'C:Q1abc=\nP:libcrypto3\nV:3.3.1-r0\nA:x86_64\no:openssl\n\nP:busybox\nV:1.36.1-r29\no:busybox\n';
    assert.deepEqual(parseApkInstalled(text), [
      { name: 'libcrypto3', version: '3.3.1-r0', sourceName: 'openssl', sourceVersion: '3.3.1-r0', type: 'apk' },
      { name: 'busybox', version: '1.36.1-r29', sourceName: 'busybox', sourceVersion: '1.36.1-r29', type: 'apk' },
    ]);
  });

  it('parses os-release', () => {
    assert.deepEqual(parseOsRelease(osRelease), {
      id: 'debian',
      versionId: '12',
      versionCodename: undefined,
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
    });
  });
});

describe('layers and whiteouts', () => {
  it('reads only package databases from a gzip layer and names the Debian ecosystem through a symlinked os-release', async () => {
    const layer = await layerOf([
      { name: 'usr/lib/os-release', content: osRelease },
      { name: 'etc/os-release', link: '../usr/lib/os-release' },
      { name: 'var/lib/dpkg/status', content: status },
      { name: 'usr/bin/big', content: 'x'.repeat(100_000) },
    ]);
    const files = new LayeredFiles();
    files.apply(await readLayerFiles(Readable.from([layer]), 'gzip'));
    assert.deepEqual(files.paths().sort(), ['etc/os-release', 'usr/lib/os-release', 'var/lib/dpkg/status']);
    const { os, packages } = packagesOf(files);
    assert.equal(os?.id, 'debian');
    assert.deepEqual(
      packages.map((item) => `${item.ecosystem} ${item.name}`),
      ['Debian:12 libssl3', 'Debian:12 libc6'],
    );
  });

  it("applies a later layer's whiteouts and opaque directories", async () => {
    const files = new LayeredFiles();
    const base = await layerOf([
      { name: 'etc/os-release', content: osRelease },
      { name: 'var/lib/dpkg/status.d/libssl3', content: status.split('\n\n')[0] ?? '' },
      { name: 'var/lib/dpkg/status.d/libc6', content: status.split('\n\n')[2] ?? '' },
      { name: 'lib/apk/db/installed', content: 'P:busybox\nV:1.36.1-r29\n' },
    ]);
    files.apply(await readLayerFiles(Readable.from([base]), 'gzip'));
    assert.equal(packagesOf(files).packages.length, 3);
    const deleting = await layerOf([
      { name: 'var/lib/dpkg/status.d/.wh.libssl3' },
      { name: 'lib/apk/db/.wh..wh..opq' },
    ]);
    files.apply(await readLayerFiles(Readable.from([deleting]), 'gzip'));
    assert.deepEqual(
      packagesOf(files).packages.map((item) => item.name),
      ['libc6'],
    );
    const whole = await layerOf([{ name: 'var/lib/dpkg/.wh.status.d' }]);
    files.apply(await readLayerFiles(Readable.from([whole]), 'gzip'));
    assert.deepEqual(packagesOf(files).packages, []);
  });
});
