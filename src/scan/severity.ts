/** Severities from least to most severe; UNKNOWN ranks below all and never trips a gate. */
export const severities = ['UNKNOWN', 'NEGLIGIBLE', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof severities)[number];

export function severityRank(severity: Severity): number {
  return severities.indexOf(severity);
}

/** Normalises a database's word (`Moderate`, `important`, `unimportant`…) to a Severity. */
export function parseSeverityWord(word: unknown): Severity | undefined {
  if (typeof word !== 'string') return undefined;
  const upper = word.trim().toUpperCase();
  if ((severities as readonly string[]).includes(upper)) return upper as Severity;
  const aliases: Record<string, Severity> = {
    MODERATE: 'MEDIUM',
    IMPORTANT: 'HIGH',
    UNIMPORTANT: 'NEGLIGIBLE',
    'NOT YET ASSIGNED': 'UNKNOWN',
  };
  return aliases[upper];
}

/** CVSS v3 qualitative rating of a base score. */
export function severityOfScore(score: number): Severity {
  if (score >= 9) return 'CRITICAL';
  if (score >= 7) return 'HIGH';
  if (score >= 4) return 'MEDIUM';
  if (score > 0) return 'LOW';
  return 'NEGLIGIBLE';
}

const weights: Record<string, Record<string, number>> = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  C: { H: 0.56, L: 0.22, N: 0 },
  I: { H: 0.56, L: 0.22, N: 0 },
  A: { H: 0.56, L: 0.22, N: 0 },
};

/** The CVSS v3.x base score of a vector (`CVSS:3.1/AV:N/AC:L/...`), per the specification's formulas. */
export function cvss3BaseScore(vector: string): number | undefined {
  if (!/^CVSS:3\.[01]\//.test(vector)) return undefined;
  const metrics = new Map(
    vector
      .split('/')
      .slice(1)
      .map((part) => part.split(':') as [string, string]),
  );
  const value = (name: string) => weights[name]?.[metrics.get(name) ?? ''];
  const scope = metrics.get('S');
  const pr = { N: 0.85, L: scope === 'C' ? 0.68 : 0.62, H: scope === 'C' ? 0.5 : 0.27 }[metrics.get('PR') ?? ''];
  const [av, ac, ui, c, i, a] = ['AV', 'AC', 'UI', 'C', 'I', 'A'].map(value);
  if ([av, ac, ui, c, i, a, pr].some((item) => item === undefined) || (scope !== 'U' && scope !== 'C')) {
    return undefined;
  }
  const iss = 1 - (1 - (c as number)) * (1 - (i as number)) * (1 - (a as number));
  const impact = scope === 'U' ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15;
  const exploitability = 8.22 * (av as number) * (ac as number) * (pr as number) * (ui as number);
  if (impact <= 0) return 0;
  const raw = scope === 'U' ? Math.min(impact + exploitability, 10) : Math.min(1.08 * (impact + exploitability), 10);
  return roundUp(raw);
}

/** CVSS's Roundup: the smallest one-decimal number not below the input, robust to float error. */
function roundUp(value: number): number {
  const scaled = Math.round(value * 100_000);
  return scaled % 10_000 === 0 ? scaled / 100_000 : (Math.floor(scaled / 10_000) + 1) / 10;
}
