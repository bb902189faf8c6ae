// Builds the web UI into dist/web with Vite (`npm run build`), unless the build is already newer than
// every file of web/ and the lockfile: a second `npm start` then costs a directory walk, not a build.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const web = join(root, 'web');
const stamp = join(root, 'dist', 'web', '.built');

function newestMtime(directory) {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(directory, entry.name);
    const mtime = entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

const newestInput = Math.max(newestMtime(web), statSync(join(root, 'package-lock.json')).mtimeMs);
if (existsSync(stamp) && statSync(stamp).mtimeMs >= newestInput) process.exit(0);

const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
const result = spawnSync(
  process.execPath,
  [vite, 'build', '--config', join(web, 'vite.config.ts'), '--logLevel', 'warn'],
  { cwd: root, stdio: 'inherit' },
);
if (result.status !== 0) {
  console.error('web UI build failed');
  process.exit(result.status ?? 1);
}
writeFileSync(stamp, '');
