import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const projectRoot = resolve(import.meta.dirname, '..', '..');
export const chartDir = join(projectRoot, 'deploy', 'helm', 'wharf');

export interface ChartFiles {
  chart: Record<string, unknown>;
  values: Record<string, unknown>;
  /** Every file under templates/, by name. */
  templates: Map<string, string>;
}

export async function readChart(): Promise<ChartFiles> {
  const chart = parse(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const values = parse(await readFile(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const templates = new Map<string, string>();
  for (const name of await readdir(join(chartDir, 'templates'))) {
    templates.set(name, await readFile(join(chartDir, 'templates', name), 'utf8'));
  }
  return { chart, values, templates };
}

/** The `.Values.a.b` paths a template names (also as `$.Values.a.b`), as `a.b`. */
export function valuesReferences(template: string): string[] {
  return [...template.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((match) => (match[1] ?? '').slice(1));
}

/** Whether a dotted path names a key of the values (its value may be empty, but the key exists). */
export function hasValuesPath(values: unknown, path: string): boolean {
  let node: unknown = values;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !(key in node)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

/**
 * Go template actions that open a block (`if`, `range`, `with`, `define`, `block`) and those that
 * close one (`end`), counted per file; a difference means a template Helm cannot parse.
 */
export function blockBalance(template: string): { opened: number; closed: number; unclosedActions: number } {
  const actions = [...template.matchAll(/\{\{-?\s*(\/\*[\s\S]*?\*\/|[\s\S]*?)\s*-?\}\}/g)].map((match) =>
    (match[1] ?? '').trim(),
  );
  const opened = actions.filter((action) => /^(if|range|with|define|block)\b/.test(action)).length;
  const closed = actions.filter((action) => /^end\b/.test(action)).length;
  const unclosedActions = template.split('{{').length - template.split('}}').length;
  return { opened, closed, unclosedActions };
}
