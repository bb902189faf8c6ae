#!/usr/bin/env node
// Runs the compiled JavaScript in dist/ (`npm run build`) when it is at least as new as every source file, and
// the TypeScript sources through tsx's loader otherwise. The compiled form starts faster and keeps about 45 MiB
// less resident, because no transpiler and no source maps live in the server process; the loader keeps an
// edited checkout runnable without a build step.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const buildStamp = join(root, 'dist', '.built');

function newestSourceMtime(directory) {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    const mtime = entry.isDirectory() ? newestSourceMtime(path) : statSync(path).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

function compiledIsCurrent() {
  if (!existsSync(buildStamp)) return false;
  // An installation that ships only dist/ (the container image) has no sources to be newer.
  const sources = join(root, 'src');
  return !existsSync(sources) || statSync(buildStamp).mtimeMs >= newestSourceMtime(sources);
}

if (compiledIsCurrent()) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
