// temporary probe script (removed after use)
import { spawnSync } from 'node:child_process';
import { Blob } from './blob-data.ts';
import { connectionPool } from './http-client.ts';
import { RegistryClient } from './registry-client.ts';
import { startServer } from './servers.ts';
import { readCpuSeconds } from './process-stats.ts';

const kind = (process.argv[2] ?? 'reference') as 'reference' | 'wharf';
const conc = Number(process.argv[3] ?? 1);
const rounds = Number(process.argv[4] ?? 3);
const server = await startServer(kind);
const client = new RegistryClient(server.url, connectionPool(conc));
const blobs = Array.from({ length: conc }, () => Blob.generate(256 * 1024 * 1024));
for (const b of blobs) await client.pushMonolithic('p/x', b);
for (const b of blobs) await client.pullBlob('p/x', b);
if (process.env.STRACE) {
  const { spawn } = await import('node:child_process');
  const st = spawn('timeout', ['-s', 'INT', '2', 'strace', '-f', '-c', '-p', String(server.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = ''; st.stderr.on('data', (d) => { err += d; });
  const done = new Promise((r) => st.on('exit', r));
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 6; i++) await Promise.all(blobs.map((b) => client.pullBlob('p/x', b)));
  await done;
  console.log(err.split('\n').slice(0, 16).join('\n'));
}
for (let r = 0; r < rounds; r++) {
  spawnSync('sync');
  const cpu0 = readCpuSeconds(server.pid); const c0 = process.cpuUsage(); const t0 = performance.now();
  await Promise.all(blobs.map(async (b) => { for (let i = 0; i < 4; i++) await client.pullBlob('p/x', b); }));
  const secs = (performance.now() - t0) / 1000; const c = process.cpuUsage(c0);
  console.log(kind, `c${conc}`, Math.round(conc * 4 * 256 * 1.048576 / secs), 'MB/s', 'server', Math.round((readCpuSeconds(server.pid) - cpu0) / secs * 100) + '%', 'client', Math.round((c.user + c.system) / 1e4 / secs) + '%');
}
await server.close();
process.exit(0);
