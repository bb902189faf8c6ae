import { existsSync } from 'node:fs';
import { cp, link, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { type Dockerfile, instructionsOf, onlyInstruction, parseCopy, type Stage } from './dockerfile.ts';

const projectRoot = resolve(import.meta.dirname, '..', '..');

/**
 * The files of the image's runtime stage, laid out in a temporary directory that stands for the
 * image's `/`, from this checkout: what the build stage produced is taken from the checkout's
 * own build (dist/, the sendfile addon), and node_modules is what `npm ci --omit=dev` installs
 * according to package-lock.json, hard-linked from the checkout's node_modules.
 */
export interface ImageLayout {
  root: string;
  /** The path in the layout of a path in the image (`/app/bin/wharf.js`). */
  path(imagePath: string): string;
  /** The image's WORKDIR when its ENTRYPOINT runs. */
  workdir: string;
  close(): Promise<void>;
}

export interface LayoutOptions {
  /** Packages left out of node_modules (and everything installed under them), to prove they are not needed. */
  omitPackages: readonly string[];
}

export async function buildRuntimeLayout(dockerfile: Dockerfile, options: LayoutOptions): Promise<ImageLayout> {
  const build = dockerfile.stages[0];
  const runtime = dockerfile.stages.at(-1);
  if (build === undefined || runtime === undefined || build === runtime) {
    throw new Error('the Dockerfile needs a build stage and a runtime stage');
  }
  const buildWorkdir = onlyInstruction(build, 'WORKDIR').args;
  const root = await mkdtemp(join(tmpdir(), 'wharf-image-'));
  const inLayout = (imagePath: string) => join(root, posix.resolve('/', imagePath));
  let workdir = '/';
  try {
    for (const instruction of runtime.instructions) {
      if (instruction.keyword === 'WORKDIR') {
        workdir = posix.resolve(workdir, instruction.args);
        await mkdir(inLayout(workdir), { recursive: true });
      }
      if (instruction.keyword !== 'COPY' && instruction.keyword !== 'ADD') continue;
      const copy = parseCopy(instruction);
      const destination = posix.resolve(workdir, copy.destination) + (copy.destination.endsWith('/') ? '/' : '');
      for (const source of copy.sources) {
        const origin = sourceInCheckout(source, copy.from, build, buildWorkdir, instruction.line);
        await copyInto(origin, inLayout(destination), destination.endsWith('/'), options);
      }
    }
    for (const volume of instructionsOf(runtime, 'VOLUME')) {
      for (const path of JSON.parse(volume.args) as string[]) await mkdir(inLayout(path), { recursive: true });
    }
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return {
    root,
    path: inLayout,
    workdir: inLayout(workdir),
    close: () => rm(root, { recursive: true, force: true }),
  };
}

/** Where in this checkout a COPY source comes from: the build context, or the build stage's WORKDIR. */
function sourceInCheckout(
  source: string,
  from: string | undefined,
  build: Stage,
  buildWorkdir: string,
  line: number,
): string {
  if (from === undefined) return join(projectRoot, source);
  if (from !== build.name) throw new Error(`Dockerfile:${line}: COPY --from=${from} is not the build stage`);
  const inWorkdir = posix.relative(buildWorkdir, posix.resolve(buildWorkdir, source));
  if (inWorkdir.startsWith('..')) throw new Error(`Dockerfile:${line}: ${source} is outside ${buildWorkdir}`);
  return join(projectRoot, inWorkdir);
}

/** Docker's COPY: a directory's contents go into the destination, a file to it or into it. */
async function copyInto(origin: string, destination: string, intoDirectory: boolean, options: LayoutOptions) {
  if (!existsSync(origin)) throw new Error(`${relative(projectRoot, origin)} does not exist: build the checkout first`);
  if (origin === join(projectRoot, 'node_modules')) {
    await productionNodeModules(destination, options.omitPackages);
  } else if ((await stat(origin)).isDirectory()) {
    await cp(origin, destination, { recursive: true });
  } else {
    const target = intoDirectory ? join(destination, basename(origin)) : destination;
    await mkdir(dirname(target), { recursive: true });
    await cp(origin, target);
  }
}

interface LockEntry {
  dev?: boolean;
  link?: boolean;
}

/** node_modules as `npm ci --omit=dev` lays it out: every package-lock entry not marked dev. */
async function productionNodeModules(destination: string, omit: readonly string[]): Promise<void> {
  const lock = JSON.parse(await readFile(join(projectRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const omitted = (key: string) =>
    key
      .split(/(?:^|\/)node_modules\//)
      .filter(Boolean)
      .some((name) => omit.some((package_) => name === package_ || name.startsWith(`${package_}/`)));
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (!key.startsWith('node_modules/') || entry.dev || entry.link || omitted(key)) continue;
    const source = join(projectRoot, key);
    if (!existsSync(source)) continue; // an optional dependency for another platform
    await linkTree(source, join(destination, key.slice('node_modules/'.length)));
  }
}

/** Hard links of a package's files; nested node_modules are entries of their own in the lock. */
async function linkTree(source: string, destination: string): Promise<void> {
  await mkdir(destination, { recursive: true });
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(destination, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') await linkTree(from, to);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else {
      await link(from, to);
    }
  }
}
