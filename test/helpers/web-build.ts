import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const projectRoot = resolve(import.meta.dirname, '..', '..');

/** The UI's build in dist/web, made by `npm run build`'s own step (a no-op when it is current). */
export function ensureWebBuild(): void {
  execFileSync(process.execPath, [join(projectRoot, 'web', 'build.mjs')], { cwd: projectRoot, stdio: 'pipe' });
}
