import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The benchmark's workers still run and measure what their names say (speed is `npm run bench`'s
// business, never asserted here): each child prints one result line with no failure in it.

const WORKER = fileURLToPath(new URL('../../bench/worker.js', import.meta.url));

function runWorker(
  scenario: string,
  params: object,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', WORKER, scenario, JSON.stringify(params)],
      { timeout: 60_000, env },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${scenario}: ${err.message}\n${stderr}`));
        const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
        if (!line) return reject(new Error(`${scenario}: no result line\n${stdout}\n${stderr}`));
        resolve(JSON.parse(line.slice('BENCH_RESULT '.length)) as Record<string, unknown>);
      },
    );
  });
}

test('resumption scenarios complete only abbreviated handshakes (engine and Node API)', async () => {
  const engine = await runWorker('engine-handshake', {
    variant: 'resume',
    concurrency: [1],
    durationMs: 150,
  });
  assert.equal(engine['engine.resume.c1.failures'], 0, JSON.stringify(engine));
  assert.ok((engine['engine.resume.c1.count'] as number) > 0, JSON.stringify(engine));
  const node = await runWorker('node-handshake', { variant: 'resume', concurrency: [1], durationMs: 150 });
  assert.equal(node['node.resume.c1.failures'], 0, JSON.stringify(node));
  assert.ok((node['node.resume.c1.count'] as number) > 0, JSON.stringify(node));
});

test('the engine-over-dgram floor completes its handshakes beside the Node API', async () => {
  const r = await runWorker('node-handshake', {
    variant: 'p256',
    concurrency: [1],
    durationMs: 150,
    floor: true,
  });
  assert.equal(r['floor.p256.c1.failures'], 0, JSON.stringify(r));
  assert.ok((r['floor.p256.c1.count'] as number) > 0, JSON.stringify(r));
  assert.equal(r['node.p256.c1.failures'], 0, JSON.stringify(r));
  assert.ok((r['node.p256.c1.count'] as number) > 0, JSON.stringify(r));
});

test('the two-process handshake pair completes every variant and reads the server CPU of each', async () => {
  const variants = ['p256', 'x25519', 'psk', 'resume'];
  const server = spawn(
    process.execPath,
    ['--expose-gc', WORKER, 'handshake-server', JSON.stringify({ variants, limitMs: 50_000 })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  try {
    const info = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the server child printed no PORT line')), 30_000);
      let out = '';
      server.stdout.setEncoding('utf8');
      server.stdout.on('data', (chunk: string) => {
        out += chunk;
        const m = /^PORT \d+ (.+)$/m.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      server.on('exit', () => reject(new Error(`the server child exited early: ${out}`)));
    });
    const durationMs = Object.fromEntries(variants.map((v) => [v, 100]));
    const r = await runWorker(
      'handshake-client',
      { info, variants, concurrency: [1], durationMs },
      { ...process.env, BENCH_WARMUP_MS: '100' },
    );
    for (const v of variants) {
      assert.equal(r[`node2p.${v}.c1.failures`], 0, JSON.stringify(r));
      assert.ok((r[`node2p.${v}.c1.count`] as number) > 0, JSON.stringify(r));
      assert.ok((r[`node2p.${v}.server_cpu_ms_per_hs`] as number) > 0, JSON.stringify(r));
    }
  } finally {
    server.stdin.end();
    await new Promise((resolve) => {
      if (server.exitCode !== null) return resolve(undefined);
      const t = setTimeout(() => server.kill('SIGKILL'), 10_000);
      server.on('exit', () => {
        clearTimeout(t);
        resolve(undefined);
      });
    });
  }
});

test('the record-layer scenario opens every record it sealed', async () => {
  const r = await runWorker('record', { durationMs: 60 });
  for (const k of ['layer', 'cipher', 'bare']) {
    const v = r[`record.${k}.pair_per_s`];
    assert.ok(typeof v === 'number' && v > 0, `record.${k}.pair_per_s = ${String(v)}`);
  }
});

test("the bare-dgram reference replays a real handshake's datagrams: 8, alternating, all answered", async () => {
  const r = await runWorker('udp-exchange', { concurrency: [1], durationMs: 100 });
  // ClientHello, HelloVerifyRequest, ClientHello with cookie, the server's flight, the client's flight,
  // the server's last flight, and close_notify both ways (RFC 6347 §4.2.1, RFC 5246 §7.2.1).
  assert.equal(r['udpx.datagrams'], 8, JSON.stringify(r));
  assert.equal(r['udpx.c1.failures'], 0, JSON.stringify(r));
  assert.ok((r['udpx.c1.count'] as number) > 0, JSON.stringify(r));
});

test('the data scenario measures the one-way limit and our flow in one process', async () => {
  const r = await runWorker('node-data', { durationMs: 80 });
  for (const k of ['oneway.1200.dgrams_per_s', 'dgram.1200.dgrams_per_s', 'seal_per_s', 'open_per_s']) {
    const v = r[`data.inproc.${k}`];
    assert.ok(typeof v === 'number' && v > 0, `data.inproc.${k} = ${String(v)}`);
  }
  const limit = r['data.inproc.limit_1200'] as number;
  assert.ok(limit < (r['data.inproc.dgram.1200.dgrams_per_s'] as number), 'the limit is below bare dgram');
  // The bare AES-GCM floor ran (its worker throws if one of its datagrams failed to open).
  assert.ok((r['data.inproc.aead.1200.dgrams_per_s'] as number) > 0, JSON.stringify(r));
});
