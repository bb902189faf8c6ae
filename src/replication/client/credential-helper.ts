import { spawn } from 'node:child_process';
import type { Credentials } from './credentials.ts';

const helperTimeoutMs = 30_000;
/** What docker-credential-* helpers print when they hold nothing for the server. */
const notFound = /credentials not found/i;

/**
 * Runs `docker-credential-<helper> get` with the server URL on standard input, as docker does, and
 * returns what it holds: a password, or an identity token when the user name is `<token>`.
 * Undefined when the helper holds nothing for the server.
 */
export async function credentialsFromHelper(helper: string, serverUrl: string): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) throw new Error(`invalid credential helper name "${helper}"`);
  const program = `docker-credential-${helper}`;
  const { code, stdout, stderr } = await run(program, serverUrl);
  if (code !== 0) {
    if (notFound.test(stdout) || notFound.test(stderr)) return undefined;
    throw new Error(`${program} get failed (exit ${code}): ${(stderr || stdout).trim().slice(0, 300)}`);
  }
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(stdout) as typeof answer;
  } catch {
    throw new Error(`${program} get printed something that is not JSON`);
  }
  if (typeof answer.Secret !== 'string' || answer.Secret === '') return undefined;
  const username = typeof answer.Username === 'string' ? answer.Username : '';
  if (username === '<token>') return { identityToken: answer.Secret };
  return { username, password: answer.Secret };
}

function run(program: string, input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: helperTimeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT' ? new Error(`credential helper ${program} is not installed (not on PATH)`) : error,
      );
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {}); // a helper that exits without reading
    child.stdin.end(input);
  });
}
