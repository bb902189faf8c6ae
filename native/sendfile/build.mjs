// Builds the sendfile addon at `npm ci` / `npm install` time (the package's `install` script).
// Compiles against the headers of the Node that runs this script, never downloading any: npm's
// `nodedir` setting when present, else <node prefix>/include/node, which Node's release archives
// and Debian's nodejs package both provide. A failed build never fails the install: downloads then
// take the buffered path, and the test suite under CI=true checks the addon loaded.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const addonDirectory = import.meta.dirname;

if (process.platform !== 'linux') {
  console.log(`native/sendfile: not built on ${process.platform}; blob downloads use the buffered path`);
  process.exit(0);
}

const args = ['rebuild', '--release'];
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}

// npm names its bundled node-gyp in lifecycle scripts; elsewhere, whatever node-gyp is on PATH.
const nodeGyp = process.env.npm_config_node_gyp;
const result = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, ...args], { cwd: addonDirectory, stdio: 'inherit' })
  : spawnSync('node-gyp', args, { cwd: addonDirectory, stdio: 'inherit' });

if (result.status !== 0) {
  const why = result.error ? result.error.message : `node-gyp exited with ${result.status ?? result.signal}`;
  console.warn(`native/sendfile: build failed (${why}); blob downloads use the buffered path`);
}
