// The Grafana dashboard (deploy/grafana/llm-router.json) uses only metrics that exist, and every
// query is valid PromQL (checked by `promtool check rules`, Grafana's variables substituted).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/llm-router.json', import.meta.url), 'utf8')) as { panels: Panel[] };
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const documented = new Set([...readme.matchAll(/^\| `(llm_router_[a-z_]+)` \|/gm)].map((m) => m[1]!));
const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

test('dashboard - every panel queries documented metrics', () => {
  assert.ok(exprs.length > 20);
  for (const { panel, expr } of exprs) {
    for (const m of expr.matchAll(/llm_router_[a-z_]+/g)) {
      const name = m[0].replace(/_(bucket|sum|count)$/, '');
      assert.ok(documented.has(name), `${panel}: ${name} is not a documented metric`);
    }
  }
});

test('dashboard - every query is valid PromQL', (t) => {
  const tool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
  if (!tool) return t.skip('promtool is not installed (Debian package prometheus)');
  const dir = mkdtempSync(join(tmpdir(), 'llmr-dash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rules = exprs.map(({ expr }, i) => `      - record: llm_router_dashboard_check_${i}\n        expr: ${JSON.stringify(expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', '.+'))}`);
  const file = join(dir, 'rules.yml');
  writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
  const r = spawnSync(tool, ['check', 'rules', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
