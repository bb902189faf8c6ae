import type { Scenario, Target } from './scenario.ts';
import { MiB, median } from './scenario.ts';
import type { ServerKind } from './servers.ts';

/** What one server did in one scenario, over all its rounds. */
export interface ServerOutcome {
  /** The figure of each round, in the scenario's unit. */
  values: number[];
  /** Server CPU time over wall time of each round, in percent of one core. */
  cpuPercents: number[];
  /** The benchmark process's own CPU over the same rounds: near 100% means the client may be the limit. */
  clientCpuPercents: number[];
  latenciesMs: number[];
  /** Highest resident set of the server process during the scenario (fresh process, setup included). */
  peakRssBytes: number;
  /** Resident set of the fresh server process once it answered `GET /v2/`, before the scenario's setup. */
  startRssBytes: number;
  error?: string;
}

export interface ScenarioOutcome {
  scenario: Pick<Scenario, 'id' | 'title' | 'unit' | 'target'>;
  servers: Partial<Record<ServerKind, ServerOutcome>>;
}

type Verdict = 'PASS' | 'FAIL' | 'n/a';

export function formatReport(outcomes: ScenarioOutcome[], machine: string): string {
  const lines = [`Machine: ${machine}`, '', ...throughputTable(outcomes), '', ...memoryTable(outcomes), ''];
  const verdicts = outcomes.flatMap((outcome) => (outcome.scenario.target ? [verdict(outcome)] : []));
  const count = (wanted: Verdict) => verdicts.filter((v) => v === wanted).length;
  lines.push(`Targets: ${count('PASS')} PASS, ${count('FAIL')} FAIL, ${count('n/a')} not measured`);
  for (const { scenario, servers } of outcomes) {
    for (const [kind, outcome] of Object.entries(servers)) {
      if (outcome.error) lines.push(`Error in ${scenario.id} on ${kind}: ${outcome.error.split('\n')[0]}`);
    }
  }
  return lines.join('\n');
}

function throughputTable(outcomes: ScenarioOutcome[]): string[] {
  const rows = [
    ['scenario', 'reference', 'wharf', 'wharf/ref', 'target', 'result', 'server CPU ref / wharf'],
    ['---', '---:', '---:', '---:', '---', '---', '---:'],
  ];
  for (const outcome of outcomes) {
    const { scenario, servers } = outcome;
    const ratio = figureRatio(outcome);
    const ratioTarget = scenario.target?.kind === 'min-ratio' ? scenario.target : undefined;
    rows.push([
      scenario.title,
      formatFigure(servers.reference, scenario.unit),
      formatFigure(servers.wharf, scenario.unit),
      ratio === undefined ? '—' : `${ratio.toFixed(2)}×`,
      ratioTarget ? `≥ ${ratioTarget.ratio.toFixed(1)}×` : '',
      ratioTarget ? verdict(outcome) : '',
      `${formatCpu(servers.reference)} / ${formatCpu(servers.wharf)}`,
    ]);
  }
  return rows.map((row) => `| ${row.join(' | ')} |`);
}

function memoryTable(outcomes: ScenarioOutcome[]): string[] {
  const rows = [
    ['server RSS at start → peak, during', 'reference', 'wharf', 'target', 'result'],
    ['---', '---:', '---:', '---', '---'],
  ];
  for (const outcome of outcomes) {
    const { scenario, servers } = outcome;
    const rssTarget = scenario.target?.kind === 'max-wharf-rss' ? scenario.target : undefined;
    rows.push([
      scenario.title,
      formatRss(servers.reference),
      formatRss(servers.wharf),
      rssTarget ? `wharf < ${rssTarget.bytes / MiB} MiB` : '',
      rssTarget ? verdict(outcome) : '',
    ]);
  }
  const highest = (kind: ServerKind) => Math.max(0, ...outcomes.map((o) => o.servers[kind]?.peakRssBytes ?? 0));
  rows.push([
    '**peak in any scenario**',
    `**${(highest('reference') / MiB).toFixed(0)} MiB**`,
    `**${(highest('wharf') / MiB).toFixed(0)} MiB**`,
    '',
    '',
  ]);
  return rows.map((row) => `| ${row.join(' | ')} |`);
}

export function verdict(outcome: ScenarioOutcome): Verdict {
  const target: Target | undefined = outcome.scenario.target;
  const wharf = outcome.servers.wharf;
  if (!target || !wharf) return 'n/a';
  if (wharf.error) return 'FAIL';
  if (target.kind === 'max-wharf-rss') return wharf.peakRssBytes < target.bytes ? 'PASS' : 'FAIL';
  const ratio = figureRatio(outcome);
  if (ratio === undefined) return 'n/a';
  return ratio >= target.ratio ? 'PASS' : 'FAIL';
}

/**
 * The median of the per-round ratios: rounds run back to back, so pairing them cancels most of the drift
 * that other work on the machine causes between rounds. Falls back to the ratio of the medians.
 */
function figureRatio({ servers }: ScenarioOutcome): number | undefined {
  const reference = servers.reference;
  const wharf = servers.wharf;
  if (figure(reference) === undefined || figure(wharf) === undefined) return undefined;
  if (reference!.values.length === wharf!.values.length && reference!.values.every((value) => value > 0)) {
    return median(wharf!.values.map((value, round) => value / reference!.values[round]!));
  }
  return figure(reference) === 0 ? undefined : figure(wharf)! / figure(reference)!;
}

function figure(outcome: ServerOutcome | undefined): number | undefined {
  return outcome && !outcome.error && outcome.values.length > 0 ? median(outcome.values) : undefined;
}

function formatFigure(outcome: ServerOutcome | undefined, unit: string): string {
  if (!outcome) return '—';
  if (outcome.error) return 'error';
  const value = figure(outcome);
  if (value === undefined) return '—';
  const digits = value >= 100 ? 0 : 1;
  const latency = outcome.latenciesMs.length > 0 ? ` (p50 ${median(outcome.latenciesMs).toFixed(1)} ms)` : '';
  return `${value.toFixed(digits)} ${unit}${latency}`;
}

function formatCpu(outcome: ServerOutcome | undefined): string {
  return outcome && outcome.cpuPercents.length > 0 ? `${median(outcome.cpuPercents).toFixed(0)}%` : '—';
}

function formatRss(outcome: ServerOutcome | undefined): string {
  if (!outcome || outcome.peakRssBytes === 0) return '—';
  return `${(outcome.startRssBytes / MiB).toFixed(0)} → ${(outcome.peakRssBytes / MiB).toFixed(0)} MiB`;
}
