import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { createMetrics } from '../../src/observability/metrics.ts';

/**
 * The shipped Grafana dashboard and Prometheus alerts query metrics by name; these tests keep
 * them from drifting away from the metrics the registry defines.
 */
const root = resolve(import.meta.dirname, '..', '..');

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: unknown;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string; refId: string }>;
}

const keywords = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/** Grafana's data source variable, as every panel names it. */
const datasourceVariable = ['$', '{datasource}'].join('');

/** Series Prometheus makes itself rather than scraping them. */
const prometheusOwn = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

/** The metric names a PromQL expression selects. */
export function metricNamesOf(expression: string): string[] {
  const text = expression
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names: string[] = [];
  for (const match of text.matchAll(/(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = text.slice((match.index ?? 0) + match[0].length).trimStart();
    if (rest.startsWith('(') || keywords.has(match[0])) continue;
    names.push(match[0]);
  }
  return names;
}

/** Every metric the registry can expose: what /metrics shows now, plus every name defined in src/. */
async function knownMetricNames(): Promise<Set<string>> {
  const known = new Set<string>();
  const exposition = await createMetrics().render();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type) known.add(type[1] ?? '');
  }
  for (const file of await sourceFiles(join(root, 'src'))) {
    const text = await readFile(file, 'utf8');
    for (const match of text.matchAll(/['"`]((?:wharf|registry)_[a-z0-9_]+)['"`]/g)) known.add(match[1] ?? '');
  }
  return known;
}

async function sourceFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

function isKnown(name: string, known: Set<string>): boolean {
  if (known.has(name) || prometheusOwn.has(name)) return true;
  const base = name.replace(/_(?:bucket|sum|count)$/, '');
  return base !== name && known.has(base);
}

async function dashboard(): Promise<{ panels: Panel[]; templating: { list: Array<Record<string, unknown>> } }> {
  return JSON.parse(await readFile(join(root, 'deploy', 'grafana', 'wharf.json'), 'utf8'));
}

describe('PromQL metric names', () => {
  it('finds the selected metrics and nothing else', () => {
    assert.deepEqual(
      metricNamesOf(
        'histogram_quantile(0.99, sum by (le, handler) (rate(registry_http_request_duration_seconds_bucket{job="$job", handler!~"blob|x"}[$__rate_interval]))) > 2',
      ),
      ['registry_http_request_duration_seconds_bucket'],
    );
    assert.deepEqual(
      metricNamesOf(
        'max by (job) (a_total{job="wharf"}) / on (job) group_left b_bytes - time() < 14 * 86400 and 1e3 > c',
      ),
      ['a_total', 'b_bytes', 'c'],
    );
  });
});

describe('deploy/grafana/wharf.json', () => {
  it('queries only metrics the registry defines', async () => {
    const known = await knownMetricNames();
    const { panels, templating } = await dashboard();
    const expressions = panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
    for (const variable of templating.list) {
      // label_values(selector, label): the selector is the query.
      const selector = /^label_values\((.*),\s*\w+\)$/.exec(String(variable.definition ?? ''))?.[1];
      if (selector !== undefined) expressions.push(selector);
    }
    assert.ok(expressions.length >= 40, `${expressions.length} queries`);
    const unknown = [...new Set(expressions.flatMap(metricNamesOf).filter((name) => !isKnown(name, known)))];
    assert.deepEqual(unknown, [], 'metrics the dashboard queries but no code defines');
  });

  it('covers requests, latency, pulls and pushes, storage, GC, webhooks and quotas', async () => {
    const used = new Set(
      (await dashboard()).panels.flatMap((panel) =>
        (panel.targets ?? []).flatMap((target) => metricNamesOf(target.expr)),
      ),
    );
    for (const name of [
      'registry_http_requests_total',
      'registry_http_request_duration_seconds_bucket',
      'wharf_manifest_pulls_total',
      'wharf_manifest_pushes_total',
      'wharf_blob_upload_size_bytes_sum',
      'registry_storage_action_total',
      'wharf_storage_errors_total',
      'registry_storage_cache_total',
      'wharf_gc_review_queue_depth',
      'wharf_gc_bytes_deleted_total',
      'wharf_webhook_deliveries_total',
      'wharf_events_outbox_pending',
      'wharf_project_storage_bytes',
      'wharf_project_quota_bytes',
      'wharf_auth_failures_total',
      'wharf_tls_certificate_expiry_timestamp_seconds',
    ]) {
      assert.ok(used.has(name), `the dashboard shows ${name}`);
    }
  });

  it('is a well-formed dashboard: unique panel ids, a data source per query, a 24-column grid', async () => {
    const { panels, templating } = await dashboard();
    const ids = panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const panel of panels) {
      assert.ok(panel.gridPos.x >= 0 && panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} fits the grid`);
      if (panel.type === 'row') continue;
      assert.deepEqual(panel.datasource, { type: 'prometheus', uid: datasourceVariable }, panel.title);
      assert.ok((panel.targets ?? []).length > 0, `${panel.title} has queries`);
    }
    assert.deepEqual(
      templating.list.map((variable) => variable.name),
      ['datasource', 'job', 'instance'],
    );
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  it('alerts only on metrics the registry defines', async () => {
    const known = await knownMetricNames();
    const rules = parse(await readFile(join(root, 'deploy', 'prometheus', 'alerts.yml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
    };
    const alerts = rules.groups.flatMap((group) => group.rules);
    assert.ok(alerts.length >= 8);
    for (const rule of alerts) {
      const unknown = metricNamesOf(rule.expr).filter((name) => !isKnown(name, known));
      assert.deepEqual(unknown, [], `${rule.alert} queries metrics no code defines`);
    }
  });
});
