import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from './helm.ts';

const run = promisify(execFile);

// Loosely typed rule and dashboard fragments: the tests check fields, not types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const MONITORING = resolve(ROOT, 'deploy/monitoring');
const CHART_FILES = resolve(ROOT, 'deploy/helm/switchboard/files');
const RULES = resolve(MONITORING, 'switchboard-alerts.yaml');
const RULE_TESTS = resolve(MONITORING, 'switchboard-alerts.test.yaml');
const DASHBOARD = resolve(MONITORING, 'switchboard-dashboard.json');
const OPERATIONS = resolve(ROOT, 'docs/operations.md');
const METRICS_SOURCES = resolve(ROOT, 'libs/metrics/src');

/** Upper bound of a first promtool build: about 9 minutes were measured on 2 busy cores. */
const PROMTOOL_BUILD_TIMEOUT_MS = 30 * 60_000;

/** Metric names in a PromQL expression; histogram series map to their histogram. */
function readMetricNames(expression: string): string[] {
  const names = expression.match(/\b(?:switchboard|nodejs|process)_[a-z0-9_]+\b/g) ?? [];
  return names.map((name) => name.replace(/_(bucket|sum|count)$/, ''));
}

/** Metric names in the contract table of docs/operations.md (first column, in backticks). */
function readDocumentedMetrics(): Set<string> {
  const text = readFileSync(OPERATIONS, 'utf8');
  const start = text.indexOf('## Metrics');
  expect(start, 'docs/operations.md has a "## Metrics" section').toBeGreaterThanOrEqual(0);
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  return new Set([...section.matchAll(/^\| `([a-z0-9_]+)`/gm)].map((match) => match[1]!));
}

/** GitHub's anchor of each Markdown heading of a file. */
function readAnchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8');
  const headings = [...text.matchAll(/^#{1,6} (.+)$/gm)].map((match) => match[1]!);
  return new Set(
    headings.map((heading) =>
      heading
        .toLowerCase()
        .replace(/[^a-z0-9 _-]/g, '')
        .replace(/ /g, '-'),
    ),
  );
}

function readRules(): Json[] {
  const document = parse(readFileSync(RULES, 'utf8'));
  return (document.groups as Json[]).flatMap((group) => group.rules);
}

function readDashboard(): Json {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8'));
}

describe('alerting rules', () => {
  let promtool = '';

  beforeAll(async () => {
    try {
      const { stdout } = await run(resolve(ROOT, 'deploy/tools/install-promtool.sh'), [], {
        timeout: PROMTOOL_BUILD_TIMEOUT_MS,
      });
      promtool = stdout.trim().split('\n').at(-1)!;
    } catch (err) {
      const output = err as { stderr?: string; message?: string };
      throw new Error(
        'promtool could not be built by deploy/tools/install-promtool.sh, which needs Go and the Go module proxy. ' +
          `Its output:\n${output.stderr ?? output.message ?? String(err)}`,
        { cause: err },
      );
    }
  }, PROMTOOL_BUILD_TIMEOUT_MS);

  it('pass promtool check rules', async () => {
    const { stdout } = await run(promtool, ['check', 'rules', RULES]);
    expect(stdout).toContain('SUCCESS');
  });

  it('pass their promtool unit tests', async () => {
    // A failed case exits non-zero, and the rejection carries promtool's report.
    const { stdout } = await run(promtool, ['test', 'rules', RULE_TESTS], { cwd: MONITORING });
    expect(stdout).toContain('SUCCESS');
  });

  it('have a unit test for every alert', () => {
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')).tests as Json[];
    const tested = new Set(
      tests.flatMap((test) => test.alert_rule_test.map((check: Json) => check.alertname)),
    );
    for (const rule of readRules()) expect(tested.has(rule.alert), rule.alert).toBe(true);
  });

  it('carry severity, summary, description and a runbook section', () => {
    const anchors = readAnchors(OPERATIONS);
    for (const rule of readRules()) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Switchboard[A-Z][A-Za-z]+$/);
      expect(['info', 'warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
      const runbook = rule.annotations?.runbook as string;
      expect(runbook, rule.alert).toBe(`docs/operations.md#${rule.alert.toLowerCase()}`);
      expect(anchors.has(runbook.split('#')[1]!), `docs/operations.md needs a heading "${rule.alert}"`).toBe(
        true,
      );
    }
  });

  it('match the copy inside the chart', () => {
    const copy = readFileSync(resolve(CHART_FILES, 'switchboard-alerts.yaml'), 'utf8');
    expect(copy, 'cp deploy/monitoring/switchboard-alerts.yaml deploy/helm/switchboard/files/').toBe(
      readFileSync(RULES, 'utf8'),
    );
  });
});

describe('dashboard', () => {
  it('matches the copy inside the chart', () => {
    const copy = readFileSync(resolve(CHART_FILES, 'switchboard-dashboard.json'), 'utf8');
    expect(copy, 'cp deploy/monitoring/switchboard-dashboard.json deploy/helm/switchboard/files/').toBe(
      readFileSync(DASHBOARD, 'utf8'),
    );
  });

  it('queries the chosen data source and namespace in every panel', () => {
    const dashboard = readDashboard();
    const variables = (dashboard.templating.list as Json[]).map((variable) => variable.name);
    expect(variables).toEqual(['datasource', 'namespace']);
    const panels = (dashboard.panels as Json[]).filter((panel) => panel.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(12);
    for (const panel of panels) {
      expect(panel.datasource.uid, panel.title).toBe('${datasource}');
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets)
        expect(target.expr, panel.title).toContain('namespace="$namespace"');
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
    }
    const ids = (dashboard.panels as Json[]).map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each([
    ['switchboard_connections'],
    ['switchboard_frames_received_total'],
    ['switchboard_frames_sent_total'],
    ['switchboard_messages_accepted_total'],
    ['switchboard_messages_delivered_total'],
    ['switchboard_ack_latency_seconds'],
    ['switchboard_cross_node_publishes_total'],
    ['switchboard_send_to_deliver_seconds'],
    ['switchboard_ring_size'],
    ['switchboard_ring_version_info'],
    ['switchboard_persister_lag_records'],
    ['nodejs_eventloop_lag_p99_seconds'],
    ['process_resident_memory_bytes'],
  ])('charts %s', (metric) => {
    const expressions = (readDashboard().panels as Json[])
      .flatMap((panel) => panel.targets ?? [])
      .map((target: Json) => target.expr as string);
    expect(expressions.flatMap(readMetricNames)).toContain(metric);
  });
});

describe('metric names', () => {
  it('are all documented in docs/operations.md', () => {
    const documented = readDocumentedMetrics();
    const used = new Set([
      ...readRules().flatMap((rule) => readMetricNames(rule.expr)),
      ...(readDashboard().panels as Json[])
        .flatMap((panel) => panel.targets ?? [])
        .flatMap((target: Json) => readMetricNames(target.expr)),
    ]);
    const missing = [...used].filter((name) => !documented.has(name));
    expect(missing, 'add these to the metrics table of docs/operations.md').toEqual([]);
  });

  it('are defined by the metrics code', () => {
    const sources = readdirSync(METRICS_SOURCES)
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
      .map((file) => readFileSync(resolve(METRICS_SOURCES, file), 'utf8'))
      .join('\n');
    // prom-client's default metrics (nodejs_*, process_*) are not named in the sources.
    const ours = [...readDocumentedMetrics()].filter((name) => name.startsWith('switchboard_'));
    const undefinedNames = ours.filter((name) => !sources.includes(`'${name}'`));
    expect(undefinedNames, 'documented metrics that libs/metrics does not define').toEqual([]);
  });

  it('follow the Prometheus naming conventions', () => {
    for (const name of readDocumentedMetrics()) {
      expect(name, 'lower snake case').toMatch(/^[a-z][a-z0-9_]*$/);
      expect(name, 'base units: seconds and bytes').not.toMatch(
        /_(ms|milliseconds|minutes|kb|kib|mb|mib)(_|$)/,
      );
      if (name.startsWith('switchboard_') && name.includes('_total')) expect(name).toMatch(/_total$/);
    }
  });
});
