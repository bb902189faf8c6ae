import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkConfig } from '../helpers/config-check.ts';
import {
  type Dockerfile,
  execForm,
  instructionsOf,
  onlyInstruction,
  parseCopy,
  parseHealthcheck,
  readDockerfile,
  type Stage,
} from '../helpers/dockerfile.ts';
import { type ContextFilter, readDockerignore } from '../helpers/dockerignore.ts';
import { buildRuntimeLayout, type ImageLayout } from '../helpers/image-layout.ts';
import { buildRealFilesImageLayout, layoutBlobs, layoutTag, readLayoutBlob } from '../helpers/images.ts';
import { type ListeningProcess, startListeningProcess } from '../helpers/listening-process.ts';
import { skopeo } from '../helpers/skopeo.ts';

const projectRoot = resolve(import.meta.dirname, '..', '..');
const imageConfigPath = join(projectRoot, 'deploy', 'docker', 'config.yml');

/**
 * deploy/docker/Dockerfile, checked without a container engine: its instructions, the build
 * context .dockerignore lets through, and its runtime stage's files (laid out from this checkout
 * exactly as its COPY lines say, node_modules as `npm ci --omit=dev` installs it, without tsx)
 * started with its ENTRYPOINT, CMD and default configuration.
 */
describe('the container image', () => {
  let dockerfile: Dockerfile;
  let build: Stage;
  let runtime: Stage;

  before(async () => {
    dockerfile = await readDockerfile();
    assert.equal(dockerfile.stages.length, 2, 'a build stage and a runtime stage');
    [build, runtime] = dockerfile.stages as [Stage, Stage];
  });

  it('builds on node:20-bookworm-slim in both stages, pinned by tag', () => {
    for (const stage of dockerfile.stages) assert.equal(stage.from, 'node:20-bookworm-slim');
    assert.equal(build.name, 'build');
  });

  it('compiles in the build stage with a toolchain, then drops the development dependencies', () => {
    const runs = instructionsOf(build, 'RUN').map((run) => run.args);
    const apt = runs.find((run) => run.includes('apt-get install'));
    assert.ok(apt, 'installs packages');
    for (const tool of ['python3', 'make', 'g++'])
      assert.match(apt, new RegExp(`\\s${tool.replace(/\+/g, '\\+')}(\\s|$)`));
    const steps = ['npm ci', 'npm run build', 'npm prune --omit=dev'];
    const positions = steps.map((step) => runs.findIndex((run) => run.includes(step)));
    assert.ok(
      positions.every((position) => position >= 0),
      `every step is there: ${steps.join(', ')}`,
    );
    assert.deepEqual(
      [...positions].sort((a, b) => a - b),
      positions,
      'in this order',
    );
    // The package's install script builds native/sendfile during npm ci: its sources are there by then.
    const npmCi = instructionsOf(build, 'RUN').find((run) => run.args.includes('npm ci'));
    const copiedBefore = build.instructions
      .filter((instruction) => instruction.keyword === 'COPY' && instruction.line < (npmCi?.line ?? 0))
      .flatMap((instruction) => parseCopy(instruction).sources);
    for (const needed of ['package.json', 'package-lock.json', 'native/sendfile/binding.gyp', 'native/sendfile/src']) {
      assert.ok(copiedBefore.includes(needed), `${needed} is copied before npm ci`);
    }
  });

  it('runs as a fixed non-root user, with its data in a volume and its configuration in /etc/wharf', () => {
    assert.equal(onlyInstruction(runtime, 'USER').args, '10001:10001');
    assert.deepEqual(JSON.parse(onlyInstruction(runtime, 'VOLUME').args), ['/var/lib/wharf']);
    assert.equal(onlyInstruction(runtime, 'EXPOSE').args, '5000');
    assert.equal(onlyInstruction(runtime, 'STOPSIGNAL').args, 'SIGTERM');
    assert.deepEqual(execForm(onlyInstruction(runtime, 'ENTRYPOINT')), ['node', '/app/bin/wharf.js']);
    assert.deepEqual(execForm(onlyInstruction(runtime, 'CMD')), ['serve', '/etc/wharf/config.yml']);
    const useradd = instructionsOf(runtime, 'RUN').find((run) => run.args.includes('useradd'));
    assert.match(useradd?.args ?? '', /--uid 10001 /);
    const labels = instructionsOf(runtime, 'LABEL')
      .map((label) => label.args)
      .join(' ');
    for (const label of ['title', 'description', 'licenses', 'version', 'revision', 'created']) {
      assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${label}=`));
    }
  });

  it('copies only what runs into the runtime stage: no sources, no compiler', () => {
    const copied = instructionsOf(runtime, 'COPY').map(parseCopy);
    const fromBuild = copied.filter((copy) => copy.from === 'build').flatMap((copy) => copy.sources);
    assert.deepEqual(fromBuild.sort(), [
      '/app/bin',
      '/app/dist',
      '/app/native/sendfile/build/Release/wharf_sendfile.node',
      '/app/node_modules',
      '/app/package.json',
    ]);
    const fromContext = copied.filter((copy) => copy.from === undefined).flatMap((copy) => copy.sources);
    assert.deepEqual(fromContext, ['deploy/docker/config.yml']);
    assert.equal(
      instructionsOf(runtime, 'RUN').some((run) => run.args.includes('apt-get')),
      false,
    );
  });

  it("the image's default configuration passes wharf config check without warnings", () => {
    const checked = checkConfig(imageConfigPath);
    assert.equal(checked.status, 0, checked.stderr);
    assert.equal(checked.stderr, '');
    // With S3 added by variables alone, it names the conflict: compose.scale-out.yml mounts its own file.
    const conflicting = checkConfig(imageConfigPath, {
      REGISTRY_STORAGE_S3_REGION: 'us-east-1',
      REGISTRY_STORAGE_S3_BUCKET: 'wharf',
    });
    assert.equal(conflicting.status, 2);
    assert.match(conflicting.stderr, /exactly one storage driver/);
  });

  describe('.dockerignore', () => {
    let inContext: ContextFilter;

    before(async () => {
      inContext = await readDockerignore();
    });

    it('lets through every file the build copies from the context', async () => {
      const sources = dockerfile.stages
        .flatMap((stage) => instructionsOf(stage, 'COPY').map(parseCopy))
        .filter((copy) => copy.from === undefined)
        .flatMap((copy) => copy.sources);
      assert.ok(sources.length >= 8, `${sources.length} context sources`);
      for (const source of sources) {
        const files = await filesUnder(join(projectRoot, source));
        assert.ok(files.length > 0, `${source} exists`);
        for (const file of files)
          assert.ok(inContext(relative(projectRoot, file)), `${relative(projectRoot, file)} is sent`);
      }
    });

    it('keeps out dependencies, builds, data and history', () => {
      for (const path of [
        'node_modules/fastify/package.json',
        'dist/main.js',
        'dist/.built',
        'data/wharf.db',
        '.git/HEAD',
        'native/sendfile/build/Release/wharf_sendfile.node',
        'test/unit/x.test.ts',
        'web/node_modules/react/package.json',
        'docs/deploy.md',
        'deploy/helm/wharf/values.yaml',
        '.bench/results.json',
      ]) {
        assert.equal(inContext(path), false, `${path} stays out`);
      }
    });
  });

  describe('the runtime stage, laid out from this checkout', () => {
    let layout: ImageLayout;
    let server: ListeningProcess;
    let work: string;

    before(async () => {
      const compiled = spawnSync('npm', ['run', 'build', '--silent'], { cwd: projectRoot, encoding: 'utf8' });
      assert.equal(compiled.status, 0, `npm run build failed:\n${compiled.stdout}\n${compiled.stderr}`);
      layout = await buildRuntimeLayout(dockerfile, { omitPackages: ['tsx', 'esbuild', '@esbuild'] });
      work = await mkdtemp(join(tmpdir(), 'wharf-image-test-'));
      server = await startListeningProcess(...imageCommand(runtime, layout), {
        cwd: layout.workdir,
        env: {
          PATH: process.env.PATH,
          // What a user of the image would set: another listen address, the data elsewhere.
          REGISTRY_HTTP_ADDR: '127.0.0.1:0',
          REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: layout.path('/var/lib/wharf'),
          NODE_DEBUG: 'wharf-sendfile',
          ...imageEnv(runtime),
        },
      });
    });

    after(async () => {
      await server?.stop();
      await layout?.close();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('has no sources, no tsx and no development dependency', () => {
      assert.equal(existsSync(layout.path('/app/src')), false);
      assert.equal(existsSync(layout.path('/app/node_modules/tsx')), false);
      assert.equal(existsSync(layout.path('/app/node_modules/typescript')), false);
      assert.equal(existsSync(layout.path('/app/node_modules/@biomejs')), false);
      assert.equal(existsSync(layout.path('/app/node_modules/better-sqlite3')), true);
    });

    it('starts the compiled build with the default configuration', () => {
      assert.match(server.output(), /"code":"compiled"/);
      // log.formatter: json in deploy/docker/config.yml
      assert.match(server.output(), /^\{"level":"info",.*"msg":"listening on http:\/\/127\.0\.0\.1:\d+"/m);
      assert.match(server.output(), new RegExp(`"storage":"[^"]*${escapeRegExp(layout.path('/var/lib/wharf'))}`));
    });

    it('serves a skopeo push and pull byte for byte, downloads through the sendfile addon', async () => {
      const source = join(work, 'source');
      const image = await buildRealFilesImageLayout(source, 'v1');
      await skopeo(['copy', `oci:${source}:v1`, `docker://${server.host}/image/app:v1`]);
      const pulled = join(work, 'pulled');
      await skopeo(['copy', `docker://${server.host}/image/app:v1`, `oci:${pulled}:v1`]);
      assert.equal((await layoutTag(pulled, 'v1')).digest, image.manifest.digest);
      const blobs = await layoutBlobs(pulled);
      for (const digest of image.blobDigests) {
        assert.ok(blobs.has(digest), `${digest} pulled back`);
        assert.deepEqual(await readLayoutBlob(pulled, digest), await readLayoutBlob(source, digest));
      }
      const addon = layout.path('/app/native/sendfile/build/Release/wharf_sendfile.node');
      assert.match(server.output(), new RegExp(`WHARF-SENDFILE \\d+: loaded ${escapeRegExp(addon)}`));
    });

    it("passes the image's HEALTHCHECK while it serves, fails it once stopped", async () => {
      const { command, options } = parseHealthcheck(onlyInstruction(runtime, 'HEALTHCHECK'));
      assert.equal(command[0], 'node');
      for (const option of ['interval', 'timeout', 'start-period', 'retries']) assert.ok(options.has(option), option);
      const check = () =>
        spawnSync(process.execPath, command.slice(1), {
          env: { WHARF_HEALTHCHECK_URL: `${server.url}/healthz` },
          encoding: 'utf8',
          timeout: 10_000,
        }).status;
      assert.equal(check(), 0);
      assert.equal(await server.stop(), 0, 'SIGTERM (STOPSIGNAL) ends it cleanly');
      assert.equal(check(), 1);
    });
  });
});

/** ENTRYPOINT + CMD with the image's absolute paths moved into the layout; `node` is this Node. */
function imageCommand(runtime: Stage, layout: ImageLayout): [string, string[]] {
  const [program, ...args] = [
    ...execForm(onlyInstruction(runtime, 'ENTRYPOINT')),
    ...execForm(onlyInstruction(runtime, 'CMD')),
  ];
  assert.equal(program, 'node');
  return [process.execPath, args.map((arg) => (arg.startsWith('/') ? layout.path(arg) : arg))];
}

/** The runtime stage's ENV, `KEY=value` pairs. */
function imageEnv(runtime: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of instructionsOf(runtime, 'ENV')) {
    for (const pair of instruction.args.split(/\s+/)) {
      const [name = '', value = ''] = pair.split('=', 2);
      env[name] = value;
    }
  }
  return env;
}

async function filesUnder(path: string): Promise<string[]> {
  if (!existsSync(path)) return [];
  const entries = await readdir(path, { withFileTypes: true, recursive: true }).catch(() => undefined);
  if (entries === undefined) return [path]; // a file
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
