import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RssSampler, readCpuSeconds } from './process-stats.ts';
import { formatReport, type ScenarioOutcome, type ServerOutcome } from './report.ts';
import type { Scenario, ScenarioRun } from './scenario.ts';
import { allScenarios } from './scenarios/index.ts';
import { killAllServers, type RegistryServer, type ServerKind, startServer } from './servers.ts';
import { fullSettings, quickSettings } from './settings.ts';

const usage = `Usage: npm run bench -- [options]
       npm run bench -- gc [--quick]

Benchmarks Wharf against CNCF Distribution (Debian's docker-registry) on this machine,
alternating between them round by round, and prints the median figures.

  --quick             smaller blobs, shorter load, 2 rounds
  --only <id>         run the scenarios whose id contains <id> (repeatable)
  --rounds <n>        rounds per scenario and server (default 5, quick 2)
  --reference-only    benchmark only the reference registry
  --profile           write V8 CPU profiles of the Wharf server to .bench/profiles
  --list              print the scenario ids and exit
  --help              this text

gc: garbage collection on 10,000 and 100,000 live blobs with 10,000 garbage blobs (quick: 2,000
and 20,000 with 2,000): Wharf's online collector, \`wharf gc\`, and Distribution's garbage-collect.
`;

const projectRoot = resolve(import.meta.dirname, '..');
const outputDir = join(projectRoot, '.bench');

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
    rounds: { type: 'string' },
    'reference-only': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (options.help) {
  process.stdout.write(usage);
  process.exit(0);
}
if (positionals[0] === 'gc') {
  const { runGcBenchmark } = await import('./scenarios/gc.ts');
  await runGcBenchmark({ quick: options.quick });
  process.exit(0);
}

const settings = { ...(options.quick ? quickSettings : fullSettings) };
if (options.rounds !== undefined) settings.rounds = Math.max(1, Number.parseInt(options.rounds, 10) || 1);
const scenarios = allScenarios(settings).filter(
  (scenario) => !options.only || options.only.some((wanted) => scenario.id.includes(wanted)),
);

if (options.list) {
  for (const scenario of scenarios) process.stdout.write(`${scenario.id.padEnd(32)} ${scenario.title}\n`);
  process.exit(0);
}
if (scenarios.length === 0) {
  process.stderr.write(`no scenario matches ${options.only?.join(', ')}; see --list\n`);
  process.exit(2);
}

const wharfPresent = existsSync(join(projectRoot, 'src', 'cli', 'main.ts'));
if (!wharfPresent && !options['reference-only']) {
  process.stderr.write('src/cli/main.ts does not exist; benchmarking the reference registry only\n');
}
const kinds: ServerKind[] = options['reference-only'] || !wharfPresent ? ['reference'] : ['reference', 'wharf'];
const cpuProfileDir = options.profile ? join(outputDir, 'profiles') : undefined;

process.on('exit', killAllServers);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping the servers\n`);
    killAllServers();
    process.exit(130);
  });
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** Starts a fresh pair of servers, prepares both, then alternates timed rounds between them. */
async function runScenario(scenario: Scenario, position: string): Promise<ScenarioOutcome> {
  progress(`${position} ${scenario.id}: ${scenario.title}`);
  const contenders: { kind: ServerKind; server?: RegistryServer; run?: ScenarioRun; sampler?: RssSampler }[] = [];
  const serverOptions = {
    ...(cpuProfileDir ? { cpuProfileDir } : {}),
    ...(scenario.wharfEnv ? { env: scenario.wharfEnv } : {}),
  };
  const outcomes: Partial<Record<ServerKind, ServerOutcome>> = {};
  for (const kind of kinds) {
    const outcome: ServerOutcome = {
      values: [],
      cpuPercents: [],
      clientCpuPercents: [],
      latenciesMs: [],
      peakRssBytes: 0,
      startRssBytes: 0,
    };
    outcomes[kind] = outcome;
    const contender: (typeof contenders)[number] = { kind };
    contenders.push(contender);
    try {
      contender.server = await startServer(scenario.servers?.[kind] ?? kind, serverOptions);
      contender.sampler = new RssSampler(contender.server.pid);
      contender.sampler.start();
      contender.run = await scenario.prepare(contender.server, kind);
    } catch (error) {
      outcome.error = describe(error);
      progress(`  ${kind}: setup failed: ${outcome.error}`);
    }
  }
  const rounds = scenario.rounds ?? settings.rounds;
  for (let round = 1; round <= rounds; round++) {
    for (const contender of contenders) {
      const { kind } = contender;
      const outcome = outcomes[kind]!;
      if (!contender.server || !contender.run || outcome.error) continue;
      if (scenario.freshServerEachRound && round > 1) {
        try {
          await freshServer(contender, scenario, serverOptions, outcome);
        } catch (error) {
          outcome.error = describe(error);
          progress(`  round ${round}/${rounds} ${kind.padEnd(9)} setup failed: ${outcome.error}`);
          continue;
        }
      }
      const { server, run } = contender;
      if (!server || !run) continue;
      flushDirtyPages();
      const cpuBefore = readCpuSeconds(server.pid);
      const clientCpuBefore = process.cpuUsage();
      const started = performance.now();
      try {
        const { units, latencyMs } = await run.measure();
        const seconds = (performance.now() - started) / 1000;
        const cpuPercent = ((readCpuSeconds(server.pid) - cpuBefore) / seconds) * 100;
        const clientCpu = process.cpuUsage(clientCpuBefore);
        const clientCpuPercent = (clientCpu.user + clientCpu.system) / 1e4 / seconds;
        outcome.values.push(units / seconds);
        outcome.cpuPercents.push(cpuPercent);
        outcome.clientCpuPercents.push(clientCpuPercent);
        if (latencyMs !== undefined) outcome.latenciesMs.push(latencyMs);
        const figure = `${(units / seconds).toFixed(units / seconds >= 100 ? 0 : 1)} ${scenario.unit}`;
        progress(
          `  round ${round}/${rounds} ${kind.padEnd(9)} ${figure} (CPU: server ${cpuPercent.toFixed(0)}%, client ${clientCpuPercent.toFixed(0)}%)`,
        );
      } catch (error) {
        outcome.error = describe(error);
        progress(`  round ${round}/${rounds} ${kind.padEnd(9)} failed: ${outcome.error}`);
      }
    }
  }
  for (const { kind, server, sampler } of contenders) {
    sampler?.stop();
    outcomes[kind]!.peakRssBytes = Math.max(outcomes[kind]!.peakRssBytes, sampler?.peakBytes() ?? 0);
    outcomes[kind]!.startRssBytes = sampler?.startBytes ?? 0;
    await server?.close();
  }
  return {
    scenario: { id: scenario.id, title: scenario.title, unit: scenario.unit, target: scenario.target },
    servers: outcomes,
  };
}

/** Replaces the contender's server with a fresh one (untimed), keeping the highest resident set seen. */
async function freshServer(
  contender: { kind: ServerKind; server?: RegistryServer; run?: ScenarioRun; sampler?: RssSampler },
  scenario: Scenario,
  options: Parameters<typeof startServer>[1],
  outcome: ServerOutcome,
): Promise<void> {
  contender.sampler?.stop();
  outcome.peakRssBytes = Math.max(outcome.peakRssBytes, contender.sampler?.peakBytes() ?? 0);
  await contender.server?.close();
  contender.server = undefined;
  contender.server = await startServer(scenario.servers?.[contender.kind] ?? contender.kind, options);
  contender.sampler = new RssSampler(contender.server.pid);
  contender.sampler.start();
  contender.run = await scenario.prepare(contender.server, contender.kind);
}

/** Writes back what the previous round left dirty, so one server's writeback never lands in the other's timing. */
function flushDirtyPages(): void {
  spawnSync('sync');
}

/** The first lines of an error: a server's startup failure can carry its whole output. */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n').slice(0, 8).join('\n').slice(0, 1500);
}

const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, ${options.quick ? 'quick' : 'full'} run, ${settings.rounds} rounds, median`;
progress(`wharf-bench: ${scenarios.length} scenarios on ${kinds.join(' and ')}; ${machine}`);
const [loadAverage] = loadavg();
if (loadAverage !== undefined && loadAverage > 0.5) {
  progress(`warning: load average is ${loadAverage.toFixed(2)}; other work on this machine will skew the figures`);
}
const outcomes: ScenarioOutcome[] = [];
for (const [index, scenario] of scenarios.entries()) {
  outcomes.push(await runScenario(scenario, `[${index + 1}/${scenarios.length}]`));
}

const report = formatReport(outcomes, machine);
process.stdout.write(`\n${report}\n`);
await mkdir(outputDir, { recursive: true });
await writeFile(join(outputDir, 'results.json'), JSON.stringify({ machine, settings, outcomes }, null, 2));
await writeFile(join(outputDir, 'results.md'), `${report}\n`);
progress(`results written to .bench/results.json and .bench/results.md`);
process.exit(0);
