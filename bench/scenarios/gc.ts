import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gcChangeListener } from '../../src/gc/gc-change-listener.ts';
import { OnlineCollector } from '../../src/gc/online-collector.ts';
import { MetadataStore } from '../../src/metadata/metadata-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';
import { generateImages, type SeedManifest, seedDistribution, seedWharf } from './gc-seed.ts';

/**
 * `npm run bench -- gc`: how long garbage collection takes on a registry with many live blobs and
 * some garbage (small blobs, filesystem storage, SQLite), for two sizes of the live set:
 *
 * - online: Wharf's collector (src/gc/online-collector.ts, one worker, in this process) working
 *   through the review queue that deleting the garbage images filled;
 * - offline: `wharf gc` on the same registry after as much garbage again;
 * - reference: Distribution 2.8's `docker-registry garbage-collect` on the same blobs in its layout.
 *
 * The online collector only looks at what the queue names, so its time should follow the garbage
 * and not the live set; the offline sweeps read every blob.
 */

export interface GcBenchOptions {
  quick: boolean;
}

interface GcCase {
  live: number;
  garbage: number;
  onlineSeconds: number;
  /** CPU time of this process (the collector and SQLite) while it collected: less swayed by other load. */
  onlineCpuSeconds: number;
  /** `wharf gc` from start to exit, and the collection alone (without loading the program). */
  offlineSeconds: number;
  offlineCollectionSeconds: number;
  referenceSeconds: number | undefined;
  checks: string[];
}

const projectRoot = resolve(import.meta.dirname, '..', '..');
const referenceBinary = '/usr/bin/docker-registry';
const progress = (line: string) => process.stderr.write(`${line}\n`);
const zeroDelays = {
  delays: {
    blobupload: 0,
    blobdelete: 0,
    manifestdelete: 0,
    manifestuntag: 0,
    manifestupload: 0,
    repositorydelete: 0,
  },
  deleteUntagged: false,
};

export async function runGcBenchmark(options: GcBenchOptions): Promise<void> {
  const garbage = options.quick ? 2_000 : 10_000;
  const [small, large] = options.quick ? [2_000, 20_000] : [10_000, 100_000];
  const reference = existsSync(referenceBinary);
  if (!reference) progress(`${referenceBinary} is missing (apt-get install docker-registry): no reference figure`);
  // Ten times the live set, then twice the garbage: the online figure should follow only the second.
  const cases: GcCase[] = [];
  for (const [live, trash] of [
    [small, garbage],
    [large, garbage],
    [small, 2 * garbage],
  ] as const) {
    cases.push(await runCase(live, trash, reference));
  }
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}`;
  const report = formatGcReport(cases, machine);
  process.stdout.write(`\n${report}\n`);
  const outputDir = join(projectRoot, '.bench');
  await mkdir(outputDir, { recursive: true });
  await writeFile(join(outputDir, 'gc-results.json'), JSON.stringify({ machine, cases }, null, 2));
  await writeFile(join(outputDir, 'gc-results.md'), `${report}\n`);
  progress('results written to .bench/gc-results.json and .bench/gc-results.md');
}

async function runCase(live: number, garbage: number, reference: boolean): Promise<GcCase> {
  progress(`gc: ${live} live blobs, ${garbage} garbage blobs`);
  const root = await mkdtemp(join(tmpdir(), 'wharf-bench-gc-'));
  const checks: string[] = [];
  try {
    const storage = new FilesystemDriver(join(root, 'wharf'));
    await storage.init();
    const metadata = new MetadataStore(await openSqlite(join(root, 'wharf', 'wharf.db')));
    metadata.addChangeListener(gcChangeListener(zeroDelays, storage));
    const liveImages = generateImages(live, 'live');
    let started = performance.now();
    await seedWharf(join(root, 'wharf'), metadata, liveImages);
    progress(`  seeded ${live} live blobs in ${seconds(started)} s`);

    // Online: the garbage is what deleting images leaves; each deletion queues its blobs' reviews.
    await seedGarbage(root, metadata, generateImages(garbage, 'online'));
    const collector = new OnlineCollector(
      metadata,
      storage,
      { workers: 1, intervalMs: 1000, deleteUntagged: false },
      createLogger({ level: 'error', formatter: 'json', fields: {} }),
    );
    started = performance.now();
    const cpuBefore = process.cpuUsage();
    let collected = 0;
    for (;;) {
      const run = await collector.runOnce();
      collected += run.blobsDeleted;
      if (run.reviewed === 0) break;
    }
    const onlineSeconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const onlineCpuSeconds = (cpu.user + cpu.system) / 1e6;
    progress(
      `  online collector: ${collected} blobs in ${onlineSeconds.toFixed(2)} s (CPU ${onlineCpuSeconds.toFixed(2)} s)`,
    );
    checks.push(await checkWharf(metadata, storage, live, `online deleted ${collected}/${garbage}`));

    // Offline: as much garbage again, collected by `wharf gc` in its own process.
    await seedGarbage(root, metadata, generateImages(garbage, 'offline'));
    await metadata.close();
    started = performance.now();
    const output = await runCommand(
      process.execPath,
      [join(projectRoot, 'dist', 'cli', 'main.js'), 'gc', '--upload-grace', '0s'],
      { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(root, 'wharf'), REGISTRY_LOG_LEVEL: 'error' },
    );
    const offlineSeconds = (performance.now() - started) / 1000;
    const offlineCollectionSeconds = Number(/finished in ([\d.]+) s/.exec(output)?.[1] ?? Number.NaN);
    progress(`  wharf gc: ${offlineSeconds.toFixed(2)} s, ${offlineCollectionSeconds} s collecting${indent(output)}`);
    const reopened = new MetadataStore(await openSqlite(join(root, 'wharf', 'wharf.db')));
    checks.push(await checkWharf(reopened, storage, live, 'offline'));
    await reopened.close();
    await rm(join(root, 'wharf'), { recursive: true, force: true });

    let referenceSeconds: number | undefined;
    if (reference) {
      started = performance.now();
      await seedDistribution(join(root, 'distribution'), liveImages, true);
      await seedDistribution(join(root, 'distribution'), generateImages(garbage, 'reference'), false);
      progress(`  seeded Distribution's layout in ${seconds(started)} s`);
      const config = join(root, 'distribution.yml');
      await writeFile(
        config,
        `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(root, 'distribution')}\n`,
      );
      started = performance.now();
      const referenceOutput = await runCommand(referenceBinary, ['garbage-collect', config], {});
      referenceSeconds = (performance.now() - started) / 1000;
      const deleted = referenceOutput.match(/blob eligible for deletion/g)?.length ?? 0;
      progress(`  docker-registry garbage-collect: ${referenceSeconds.toFixed(2)} s, ${deleted} blobs eligible`);
    }
    return {
      live,
      garbage,
      onlineSeconds,
      onlineCpuSeconds,
      offlineSeconds,
      offlineCollectionSeconds,
      referenceSeconds,
      checks,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Seeds images, then deletes them through the store, as users deleting images would. */
async function seedGarbage(root: string, metadata: MetadataStore, images: SeedManifest[]): Promise<void> {
  await seedWharf(join(root, 'wharf'), metadata, images);
  for (const image of images) await metadata.deleteManifest(image.repository, image.digest);
}

/** What is left must be exactly the live set: its rows, and its files in storage. */
async function checkWharf(
  metadata: MetadataStore,
  storage: FilesystemDriver,
  live: number,
  label: string,
): Promise<string> {
  const rows = await metadata.db
    .selectFrom('blobs')
    .select(({ fn }) => fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  let files = 0;
  for await (const _digest of storage.listBlobs()) files++;
  const verdict = Number(rows.count) === live && files === live ? 'ok' : 'MISMATCH';
  progress(`  check (${label}): ${rows.count} blob rows, ${files} blob files, ${live} expected: ${verdict}`);
  return `${label}: ${verdict}`;
}

function runCommand(command: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: projectRoot, env: { ...process.env, ...env }, stdio: 'pipe' });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => {
      if (code === 0) done(output);
      else fail(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output.slice(-2000)}`));
    });
  });
}

function formatGcReport(cases: readonly GcCase[], machine: string): string {
  const lines = [
    `Machine: ${machine}`,
    '',
    '| live blobs | garbage blobs | online collector (CPU) | blobs/s | `wharf gc` (collecting) | Distribution 2.8 `garbage-collect` |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const result of cases) {
    lines.push(
      `| ${result.live.toLocaleString('en')} | ${result.garbage.toLocaleString('en')} | ${result.onlineSeconds.toFixed(2)} s (${result.onlineCpuSeconds.toFixed(2)} s) | ${(result.garbage / result.onlineSeconds).toFixed(0)} | ${result.offlineSeconds.toFixed(2)} s (${result.offlineCollectionSeconds.toFixed(1)} s) | ${result.referenceSeconds === undefined ? 'n/a' : `${result.referenceSeconds.toFixed(2)} s`} |`,
    );
  }
  const [base, moreLive, moreGarbage] = cases;
  const compare = (label: string, other: GcCase | undefined) => {
    if (!base || !other) return;
    const ratio = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? 'n/a' : `×${(b / a).toFixed(2)}`;
    lines.push(
      `${label}: online collector ${ratio(base.onlineSeconds, other.onlineSeconds)} (CPU ${ratio(base.onlineCpuSeconds, other.onlineCpuSeconds)}), \`wharf gc\` collecting ${ratio(base.offlineCollectionSeconds, other.offlineCollectionSeconds)}, Distribution ${ratio(base.referenceSeconds, other.referenceSeconds)}.`,
    );
  };
  lines.push('');
  compare(`Live set ×${moreLive ? moreLive.live / (base?.live ?? 1) : '?'}`, moreLive);
  compare('Garbage ×2', moreGarbage);
  lines.push('', `Checks: ${cases.flatMap((result) => result.checks).join('; ')}`);
  return lines.join('\n');
}

function seconds(started: number): string {
  return ((performance.now() - started) / 1000).toFixed(1);
}

function indent(output: string): string {
  const summary = output
    .split('\n')
    .filter((line) => /^ {2}(would )?delete/.test(line))
    .join('\n    ');
  return summary === '' ? '' : `\n    ${summary}`;
}
