import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';

// Format and lint are part of the suite (one tool: Biome), so CI fails on either.
test('biome check passes on the whole repository', () => {
  const require = createRequire(import.meta.url);
  const biome = require.resolve('@biomejs/biome/bin/biome');
  const r = spawnSync(process.execPath, [biome, 'check', '.'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `biome check failed:\n${r.stdout}\n${r.stderr}`);
});
