import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');

/** The modules that read the services' `SWB_` variables at start. */
const CONFIG_SOURCES = [
  'libs/core/src/logger.ts',
  'libs/core/src/group-rules.ts',
  'libs/cluster/src/cluster-config.ts',
  'services/chat-node/src/config.ts',
  'services/chat-node/src/realtime-config.ts',
  'services/chat-node/src/service-config.ts',
  'services/router/src/config.ts',
  'services/api/src/config.ts',
  'services/persister/src/config.ts',
  'services/push-worker/src/config.ts',
  'services/launcher/src/config.ts',
  'services/launcher/src/cluster-main.ts',
];

/** Returns the text of docs/operations.md from `## Configuration reference` to the next `## ` heading. */
function readReference(): string {
  const text = readFileSync(resolve(ROOT, 'docs/operations.md'), 'utf8');
  const start = text.indexOf('\n## Configuration reference\n');
  if (start < 0) throw new Error('docs/operations.md has no "## Configuration reference" section');
  const next = text.indexOf('\n## ', start + 1);
  return next < 0 ? text.slice(start) : text.slice(start, next);
}

describe('configuration reference', () => {
  it('lists every variable the services read', () => {
    const reference = readReference();
    const variables = new Set<string>();
    for (const source of CONFIG_SOURCES) {
      const text = readFileSync(resolve(ROOT, source), 'utf8');
      for (const match of text.matchAll(/'(SWB_[A-Z0-9_]+)'/g)) variables.add(match[1]!);
    }
    expect(variables.size).toBeGreaterThan(40);
    const missing = [...variables].filter((name) => !reference.includes(`\`${name}\``));
    expect(missing, 'variables missing from docs/operations.md, section Configuration reference').toEqual([]);
  });
});
