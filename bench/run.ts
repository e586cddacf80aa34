/**
 * The benchmark orchestrator (`npm run bench`). Every scenario runs in a fresh child process
 * (dist/bench/worker.js), in rounds: each round runs every scenario once, one at a time, so on two cores
 * no two measurements compete. Every figure is the median of the rounds with min and max; every
 * comparison (ours / reference) is a ratio taken within one round, then summarised the same way.
 * Prints a table and writes everything, raw rounds included, to bench-results/latest.json.
 *
 * Environment: BENCH_RUNS (rounds, default 3), BENCH_MS (measurement window per figure, default 500),
 * BENCH_WARMUP_MS (warm-up before every handshake figure, default 1000; see lib/common.ts),
 * BENCH_BUDGET_S (no round starts that would, at the pace of the rounds so far, end after this; default
 * 168, so that `npm run bench` with its build stays under 3 minutes on a slow machine too).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Figures, HANDSHAKE_VARIANTS, RESULT_PREFIX } from './lib/common.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MS = Number(process.env.BENCH_MS ?? 500);
const BUDGET_S = Number(process.env.BENCH_BUDGET_S ?? 168);
/**
 * A child that takes longer than this is killed and its figures are missing for that round (the longest
 * scenario takes ~7 s; a hung child must not eat the 3-minute budget).
 */
const CHILD_LIMIT_MS = 30_000;
const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

interface Scenario {
  name: string;
  params: Record<string, unknown>;
}

const OTHER_VARIANTS = HANDSHAKE_VARIANTS.filter((v) => v !== 'p256');
const handshakes = (name: string, variants: readonly string[]): Scenario[] =>
  variants.map((variant) => ({ name, params: { variant, durationMs: MS } }));

/**
 * The targets are ratios taken within a round, and this VM's speed drifts by ±30% within minutes, so
 * the two sides of each ratio run next to each other: the crypto ceiling, the engine, werift (in memory
 * and over UDP), the Node API, the bare-dgram replay of its datagrams and node:tls; the data flow, bare
 * dgram and the record layer; the two-process flows of DTLS, bare AES-GCM and bare dgram. Every other
 * round runs the list backwards, so a drift during a round favours neither side of a pair.
 */
const SCENARIOS: Scenario[] = [
  { name: 'ceiling', params: { durationMs: Math.min(MS, 500) } },
  ...handshakes('engine-handshake', ['p256']),
  { name: 'werift', params: { durationMs: MS } },
  { name: 'node-handshake', params: { variant: 'p256', durationMs: MS, floor: true } },
  { name: 'udp-exchange', params: { durationMs: MS } },
  { name: 'tls', params: { durationMs: MS } },
  ...handshakes('engine-handshake', OTHER_VARIANTS),
  ...handshakes('node-handshake', OTHER_VARIANTS),
  // Every variant in one pair of children; P-256 (set beside the one-process figures) in full windows.
  {
    name: 'two-process',
    params: {
      variants: ['p256', ...OTHER_VARIANTS],
      durationMs: Object.fromEntries([['p256', MS], ...OTHER_VARIANTS.map((v) => [v, MS / 2])]),
    },
  },
  { name: 'node-data', params: { durationMs: MS } },
  { name: 'dgram-data', params: { durationMs: MS } },
  { name: 'record', params: { durationMs: MS } },
  { name: 'two-process-data', params: { durationMs: MS, mode: 'dtls' } },
  { name: 'two-process-floor', params: { durationMs: MS, mode: 'floor' } },
  { name: 'two-process-dgram', params: { durationMs: MS, mode: 'plain' } },
  { name: 'memory', params: { sessions: 1000 } },
  { name: 'scale', params: { sessions: 10_000, durationMs: MS } },
];

// ---- child processes ---------------------------------------------------------------------------------

interface Child {
  proc: ChildProcess;
  /** Resolves with the figures, or with an `error` figure when the child fails. */
  result: Promise<Figures>;
  /** Lines the child printed before its result (the server child's `PORT …`). */
  onLine(f: (line: string) => void): void;
}

function startWorker(name: string, params: Record<string, unknown>): Child {
  const proc = spawn(process.execPath, ['--expose-gc', WORKER, name, JSON.stringify(params)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const listeners: ((line: string) => void)[] = [];
  let stdout = '';
  let stderr = '';
  let figures: Figures | undefined;
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    let nl = stdout.indexOf('\n');
    // Bounded by the buffered text: each pass removes one line.
    while (nl >= 0) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      if (line.startsWith(RESULT_PREFIX)) figures = JSON.parse(line.slice(RESULT_PREFIX.length)) as Figures;
      else for (const l of listeners) l(line);
      nl = stdout.indexOf('\n');
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    if (stderr.length < 4000) stderr += chunk;
  });
  const result = new Promise<Figures>((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
    }, CHILD_LIMIT_MS);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (figures) resolve(figures);
      else {
        // The line naming the error says more than the stack's tail.
        const lines = stderr.trim().split('\n');
        const why = lines.find((l) => /Error|error:/.test(l)) ?? lines.at(-1) ?? '';
        resolve({ [`${name}.error`]: `exit ${code ?? signal}: ${why.trim().slice(0, 200)}` });
      }
    });
  });
  return { proc, result, onLine: (f) => listeners.push(f) };
}

/** Scenarios that run as a server child and a client child: the names of the two workers. */
const PAIRS: Record<string, { server: string; client: string; prefix: string }> = {
  'two-process': { server: 'handshake-server', client: 'handshake-client', prefix: 'node2p' },
  'two-process-data': { server: 'data-server', client: 'data-client', prefix: 'data2p' },
  'two-process-floor': { server: 'data-server', client: 'data-client', prefix: 'floor2p' },
  'two-process-dgram': { server: 'data-server', client: 'data-client', prefix: 'dgram2p' },
};

async function runScenario(s: Scenario): Promise<Figures> {
  const pair = PAIRS[s.name];
  if (!pair) return startWorker(s.name, s.params).result;
  // Server in one child, client in another: the server prints its port and what else its client needs,
  // the client runs against it, then the server's stdin is closed and it exits.
  const server = startWorker(pair.server, { ...s.params, limitMs: CHILD_LIMIT_MS - 5_000 });
  const ready = new Promise<{ port: number; info: string } | undefined>((resolve) => {
    const t = setTimeout(() => resolve(undefined), 20_000);
    server.onLine((line) => {
      const m = /^PORT (\d+) (.+)$/.exec(line);
      if (!m) return;
      clearTimeout(t);
      resolve({ port: Number(m[1]), info: m[2]! });
    });
    void server.result.then(() => resolve(undefined));
  });
  const addr = await ready;
  if (!addr) {
    server.proc.kill('SIGKILL');
    return { [`${pair.prefix}.error`]: 'server child did not start' };
  }
  const client = await startWorker(pair.client, { ...s.params, ...addr }).result;
  server.proc.stdin!.end();
  const srv = await server.result;
  // The server reports nothing but a failure (its counters reach the client on its control socket).
  return { ...srv, ...client };
}

// ---- statistics --------------------------------------------------------------------------------------

interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

function summarise(values: number[]): Summary | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

/** Ratios computed inside one round, so both sides saw the same machine state. */
const RATIOS: Record<string, (f: Figures) => number | undefined> = {
  'hs.node_vs_tls.c1': (f) => div(f['node.p256.c1.hs_per_s'], f['tls.c1.hs_per_s']),
  'hs.node_vs_tls.c16': (f) => div(f['node.p256.c16.hs_per_s'], f['tls.c16.hs_per_s']),
  'hs.engine_vs_werift_mem.c1': (f) => div(f['engine.p256.c1.hs_per_s'], f['werift.mem.c1.hs_per_s']),
  'hs.engine_vs_werift_mem.c16': (f) => div(f['engine.p256.c16.hs_per_s'], f['werift.mem.c16.hs_per_s']),
  'hs.node_vs_werift_udp.c1': (f) => div(f['node.p256.c1.hs_per_s'], f['werift.udp.c1.hs_per_s']),
  'hs.node_vs_werift_udp.c16': (f) => div(f['node.p256.c16.hs_per_s'], f['werift.udp.c16.hs_per_s']),
  'hs.node_limit.c1': (f) => nodeLimit(f, 1),
  'hs.node_limit.c16': (f) => nodeLimit(f, 16),
  'hs.node_vs_limit.c1': (f) => div(f['node.p256.c1.hs_per_s'], nodeLimit(f, 1)),
  'hs.node_vs_limit.c16': (f) => div(f['node.p256.c16.hs_per_s'], nodeLimit(f, 16)),
  'hs.limit_vs_werift_udp.c1': (f) => div(nodeLimit(f, 1), f['werift.udp.c1.hs_per_s']),
  'hs.limit_vs_werift_udp.c16': (f) => div(nodeLimit(f, 16), f['werift.udp.c16.hs_per_s']),
  // The measured floor (bench/lib/engine-dgram.ts), in the same process as the Node API's figure.
  'hs.node_vs_floor.c1': (f) => div(f['node.p256.c1.hs_per_s'], f['floor.p256.c1.hs_per_s']),
  'hs.node_vs_floor.c16': (f) => div(f['node.p256.c16.hs_per_s'], f['floor.p256.c16.hs_per_s']),
  'hs.floor_vs_limit.c1': (f) => div(f['floor.p256.c1.hs_per_s'], nodeLimit(f, 1)),
  'hs.floor_vs_limit.c16': (f) => div(f['floor.p256.c16.hs_per_s'], nodeLimit(f, 16)),
  'hs.floor_vs_werift_udp.c1': (f) => div(f['floor.p256.c1.hs_per_s'], f['werift.udp.c1.hs_per_s']),
  'hs.floor_vs_werift_udp.c16': (f) => div(f['floor.p256.c16.hs_per_s'], f['werift.udp.c16.hs_per_s']),
  'hs.engine_vs_ceiling.p256.c1': (f) => div(f['engine.p256.c1.hs_per_s'], f['ceiling.p256.hs_per_s']),
  'hs.engine_vs_ceiling.x25519.c1': (f) => div(f['engine.x25519.c1.hs_per_s'], f['ceiling.x25519.hs_per_s']),
  // Medians of per-rotation ratios, computed by the record worker (see bench/scenarios/record.ts).
  'record.layer_vs_bare': (f) => num(f['record.layer_vs_bare']),
  'record.gathered_vs_bare': (f) => num(f['record.gathered_vs_bare']),
  'record.cipher_vs_bare': (f) => div(f['record.cipher.pair_per_s'], f['record.bare.pair_per_s']),
  'data.limit_1200': (f) => dataLimit(f),
  'data.oneway_vs_limit_1200': (f) => div(f['data.oneway.1200.dgrams_per_s'], dataLimit(f)),
  // The one-process limit as the one-way target measures it (its parts in the same process as our flow).
  'data2p.per_cpu_vs_limit_1200': (f) =>
    div(f['data2p.oneway.1200.msgs_per_cpu_s'], f['data.inproc.limit_1200']),
  'data2p.limit_2p_1200': (f) => dataLimit(f, 'dgram2p.oneway.1200.msgs_per_cpu_s'),
  'data2p.per_cpu_vs_limit_2p_1200': (f) =>
    div(f['data2p.oneway.1200.msgs_per_cpu_s'], dataLimit(f, 'dgram2p.oneway.1200.msgs_per_cpu_s')),
  // The measured floors (bench/lib/aead-floor.ts): bare AEAD over dgram, in one process and in two.
  'data2p.floor_vs_limit_1200': (f) =>
    div(f['floor2p.oneway.1200.msgs_per_cpu_s'], f['data.inproc.limit_1200']),
  'data2p.per_cpu_vs_floor_1200': (f) =>
    div(f['data2p.oneway.1200.msgs_per_cpu_s'], f['floor2p.oneway.1200.msgs_per_cpu_s']),
  'data.oneway_vs_dgram_1200': (f) =>
    div(f['data.oneway.1200.dgrams_per_s'], f['dgram.oneway.1200.dgrams_per_s']),
  'data.oneway_vs_werift_1200': (f) =>
    div(f['data.oneway.1200.dgrams_per_s'], f['werift.oneway.1200.dgrams_per_s']),
};

function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

function div(a: unknown, b: unknown): number | undefined {
  const x = num(a);
  const y = num(b);
  return x === undefined || y === undefined || y === 0 ? undefined : x / y;
}

/**
 * The Node API's handshake limit = 1 / (1/engine + 1/exchange): the engine's own handshake (in memory)
 * plus the same datagrams exchanged by bare dgram sockets, nothing else. The adapter, event-loop turns
 * and the cache misses a system call between every two engine steps causes are what separates us from it.
 */
function nodeLimit(f: Figures, concurrency: number): number | undefined {
  const engine = num(f[`engine.p256.c${concurrency}.hs_per_s`]);
  const exchange = num(f[`udpx.c${concurrency}.hs_per_s`]);
  return engine === undefined || exchange === undefined ? undefined : 1 / (1 / engine + 1 / exchange);
}

/**
 * limit = 1 / (1/dgram + 1/seal + 1/open): sending, sealing and opening on one core, nothing else. The
 * seal is the one the Node API's data path does (gathered: the socket takes the record in parts).
 * `dgramKey` picks the dgram figure: one process (datagrams/s) or two (messages per CPU-second).
 */
function dataLimit(f: Figures, dgramKey = 'dgram.oneway.1200.dgrams_per_s'): number | undefined {
  const d = num(f[dgramKey]);
  const s = num(f['record.gathered.seal_per_s']);
  const o = num(f['record.layer.open_per_s']);
  return d && s && o ? 1 / (1 / d + 1 / s + 1 / o) : undefined;
}

// ---- table -------------------------------------------------------------------------------------------

function fmt(x: number | undefined, digits = 0): string {
  if (x === undefined) return '-';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(digits);
}

function cell(s: Summary | undefined, digits = 0): string {
  if (!s) return 'n/a';
  return `${fmt(s.median, digits)} [${fmt(s.min, digits)}–${fmt(s.max, digits)}]`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function render(
  summary: Record<string, Summary | undefined>,
  ratios: Record<string, Summary | undefined>,
  errors: Record<string, string>,
): string {
  const s = (k: string) => summary[k];
  const lines: string[] = [];
  const section = (title: string, rows: string[][]) => {
    lines.push('', `== ${title}`, table(rows));
  };

  const hsRows: string[][] = [
    ['handshake', 'path', 'conc', 'hs/s median [min–max]', 'p50 ms', 'p99 ms', 'CPU ms/hs'],
  ];
  const hsRow = (label: string, path: string, prefix: string, c: number) => {
    const p = `${prefix}.c${c}`;
    const err = errors[`${p}.error`] ?? errors[`${prefix.split('.')[0]}.error`];
    hsRows.push([
      label,
      path,
      String(c),
      s(`${p}.hs_per_s`) ? cell(s(`${p}.hs_per_s`)) : `unavailable${err ? ` (${err.slice(0, 60)})` : ''}`,
      fmt(s(`${p}.p50_ms`)?.median, 2),
      fmt(s(`${p}.p99_ms`)?.median, 2),
      fmt(s(`${p}.cpu_ms_per_hs`)?.median, 2),
    ]);
  };
  const variants = [
    ['p256', 'ECDHE-ECDSA P-256 AES-128-GCM'],
    ['x25519', 'ECDHE-ECDSA X25519 AES-128-GCM'],
    ['psk', 'PSK AES-128-CCM_8'],
    ['resume', 'resumption (P-256 session, ticket)'],
  ] as const;
  for (const [v, label] of variants) {
    for (const c of [1, 16]) hsRow(label, 'engine (in-memory)', `engine.${v}`, c);
    for (const c of [1, 16]) hsRow(label, 'Node API (UDP)', `node.${v}`, c);
  }
  for (const [v, label] of variants) {
    for (const c of [1, 16]) hsRow(label, 'Node API, 2 processes', `node2p.${v}`, c);
  }
  for (const c of [1, 16]) hsRow('floor: our engine over bare dgram, P-256', 'UDP', 'floor.p256', c);
  for (const c of [1, 16]) hsRow('ref: node:tls TLS 1.2 P-256', 'TCP', 'tls', c);
  for (const c of [1, 16]) hsRow('ref: werift-dtls P-256', 'in-memory', 'werift.mem', c);
  for (const c of [1, 16]) hsRow('ref: werift-dtls P-256', 'UDP', 'werift.udp', c);
  for (const c of [1, 16]) hsRow("ref: bare dgram, one handshake's datagrams", 'UDP', 'udpx', c);
  section('Full handshakes (client and server in one process unless noted)', hsRows);
  const srvCpu = variants
    .map(([v]) => [v, s(`node2p.${v}.server_cpu_ms_per_hs`)] as const)
    .filter(([, x]) => x !== undefined)
    .map(([v, x]) => `${v} ${fmt(x!.median, 2)}`);
  if (srvCpu.length > 0) {
    lines.push(`2 processes: the CPU column is the client's; the server's CPU ms/hs: ${srvCpu.join(', ')}`);
  }
  lines.push(
    `ceiling (node:crypto primitives of one handshake, one core): P-256 ${cell(s('ceiling.p256.hs_per_s'))} hs/s, ` +
      `X25519 ${cell(s('ceiling.x25519.hs_per_s'))} hs/s`,
  );

  const dataRows: string[][] = [
    ['flow', 'size', 'datagrams/s median [min–max]', 'MB/s', 'loss', 'CPU µs/dgram'],
  ];
  const dataRow = (label: string, prefix: string, size: number) => {
    dataRows.push([
      label,
      String(size),
      cell(s(`${prefix}.dgrams_per_s`)),
      fmt(s(`${prefix}.mb_per_s`)?.median, 1),
      s(`${prefix}.loss`) ? `${(s(`${prefix}.loss`)!.max * 100).toFixed(2)}%` : '-',
      fmt(s(`${prefix}.cpu_us_per_dgram`)?.median, 1),
    ]);
  };
  for (const size of [1200, 100]) {
    dataRow('tsdtls one-way', `data.oneway.${size}`, size);
    dataRow('tsdtls echo (round trips)', `data.echo.${size}`, size);
    dataRow('ref: dgram one-way', `dgram.oneway.${size}`, size);
  }
  dataRow('tsdtls one-way, 2 processes', 'data2p.oneway.1200', 1200);
  dataRow('ref: AES-GCM over dgram, 2 processes', 'floor2p.oneway.1200', 1200);
  dataRow('ref: dgram one-way, 2 processes', 'dgram2p.oneway.1200', 1200);
  dataRow('ref: werift-dtls one-way', 'werift.oneway.1200', 1200);
  section(
    'Application data, one association, Node API over UDP 127.0.0.1 (loss: worst run; 2 processes: CPU of both)',
    dataRows,
  );
  lines.push(
    `2 processes, messages per CPU-second (client and server CPU together): tsdtls ${cell(s('data2p.oneway.1200.msgs_per_cpu_s'))}, ` +
      `AES-GCM over dgram ${cell(s('floor2p.oneway.1200.msgs_per_cpu_s'))}, ` +
      `plain dgram ${cell(s('dgram2p.oneway.1200.msgs_per_cpu_s'))}`,
  );
  const tlsw = s('tls.stream.1200.writes_per_s');
  lines.push(
    `ref: node:tls stream, 1,200-byte writes: ${cell(tlsw)} writes/s, ${fmt(s('tls.stream.1200.mb_per_s')?.median, 1)} MB/s`,
  );

  const recRows: string[][] = [['1,200-byte records', 'seal/s', 'open/s', 'seal+open pairs/s']];
  for (const [k, label] of [
    ['gathered', 'RecordLayer, gathered (Node API)'],
    ['layer', 'RecordLayer, one buffer'],
    ['cipher', 'RecordCipher alone, one buffer'],
    ['bare', 'ref: node:crypto aes-128-gcm'],
  ] as const) {
    recRows.push([
      label,
      cell(s(`record.${k}.seal_per_s`)),
      cell(s(`record.${k}.open_per_s`)),
      cell(s(`record.${k}.pair_per_s`)),
    ]);
  }
  section('Record layer', recRows);

  const memRows: string[][] = [
    ['server', 'sessions', 'heap B/session', 'external B/session', 'RSS B/session'],
  ];
  for (const [k, label] of [
    ['engine', 'DtlsServerEndpoint (sans-IO)'],
    ['node', 'createServer (Node API)'],
  ] as const) {
    memRows.push([
      label,
      fmt(s(`mem.${k}.sessions`)?.median),
      cell(s(`mem.${k}.heap_bytes_per_session`)),
      cell(s(`mem.${k}.external_bytes_per_session`)),
      cell(s(`mem.${k}.rss_bytes_per_session`)),
    ]);
  }
  section('Memory per idle established session (after GC)', memRows);

  section('Scale: one endpoint holding 10,000 established sessions (engine, ECDHE-ECDSA P-256, c16)', [
    ['sessions held', 'hs/s empty endpoint', 'hs/s with the sessions', 'ratio (same round)'],
    [
      fmt(s('scale.sessions_held')?.median),
      cell(s('scale.empty.hs_per_s')),
      cell(s('scale.full.hs_per_s')),
      cell(s('scale.ratio'), 2),
    ],
  ]);

  const tRows: string[][] = [
    ['target (not an assertion)', 'measured (per-round ratio) median [min–max]', 'goal', 'status'],
  ];
  const target = (
    label: string,
    value: Summary | undefined,
    goal: number,
    unit: 'x' | 'B',
    below = false,
  ) => {
    const met = value === undefined ? undefined : below ? value.median <= goal : value.median >= goal;
    const v = value ? (unit === 'x' ? `${cell(value, 2)}×` : `${cell(value)} B`) : 'n/a';
    tRows.push([
      label,
      v,
      `${below ? '≤' : '≥'} ${unit === 'x' ? `${goal}×` : `${goal} B`}`,
      met === undefined ? '-' : met ? 'met' : 'NOT met',
    ]);
  };
  target('handshakes/s vs node:tls, c1 (Node API P-256)', ratios['hs.node_vs_tls.c1'], 1, 'x');
  target('handshakes/s vs node:tls, c16', ratios['hs.node_vs_tls.c16'], 1, 'x');
  target('handshakes/s vs werift, Node API vs werift UDP, c1', ratios['hs.node_vs_werift_udp.c1'], 5, 'x');
  target('handshakes/s vs werift, Node API vs werift UDP, c16', ratios['hs.node_vs_werift_udp.c16'], 5, 'x');
  target(
    'handshakes/s vs werift, engine vs werift in-memory, c1',
    ratios['hs.engine_vs_werift_mem.c1'],
    5,
    'x',
  );
  target(
    'handshakes/s vs werift, engine vs werift in-memory, c16',
    ratios['hs.engine_vs_werift_mem.c16'],
    5,
    'x',
  );
  target('record layer seal+open vs bare AES-128-GCM', ratios['record.gathered_vs_bare'], 0.8, 'x');
  target('1,200 B one-way datagrams/s vs limit', s('data.inproc.oneway_vs_limit_1200'), 0.85, 'x');
  target(
    '1,200 B one-way, 2 processes: messages per CPU-second vs limit',
    ratios['data2p.per_cpu_vs_limit_1200'],
    0.85,
    'x',
  );
  target('heap per idle server session (Node API)', s('mem.node.heap_bytes_per_session'), 4096, 'B', true);
  target(
    'external per idle server session (Node API)',
    s('mem.node.external_bytes_per_session'),
    1024,
    'B',
    true,
  );
  target('handshakes/s with 10,000 sessions held vs none', s('scale.ratio'), 0.9, 'x');
  section('Targets', tRows);
  lines.push(
    `record layer: the target row is the record as the Node API sends it (dgram gathers its parts); ` +
      `sealed into one buffer (pollTransmit) ${cell(ratios['record.layer_vs_bare'], 2)}× of bare AES-128-GCM`,
  );
  lines.push(
    `limit = 1/(1/dgram + 1/seal + 1/open), its parts and our flow in alternating slices of one process = ` +
      `${cell(s('data.inproc.limit_1200'))} datagrams/s; our fraction ${cell(s('data.inproc.oneway_vs_limit_1200'), 2)} ` +
      `(from the separate dgram and record processes: ${cell(ratios['data.limit_1200'])}, ` +
      `our fraction ${cell(ratios['data.oneway_vs_limit_1200'], 2)})`,
  );
  lines.push(
    `measured floor, no DTLS: one node:crypto AES-128-GCM seal and open per datagram over bare dgram, in the ` +
      `same slices = ${cell(s('data.inproc.aead.1200.dgrams_per_s'))} datagrams/s, ` +
      `${cell(s('data.inproc.aead_vs_limit_1200'), 2)} of the limit; ours ${cell(s('data.inproc.oneway_vs_aead_1200'), 2)} of the floor`,
  );
  lines.push(
    `Node API handshake limit = 1/(1/engine + 1/bare exchange of its ${fmt(s('udpx.datagrams')?.median, 0)} datagrams) = ` +
      `${cell(ratios['hs.node_limit.c1'])} (c1), ${cell(ratios['hs.node_limit.c16'])} (c16) hs/s; ` +
      `our fraction ${cell(ratios['hs.node_vs_limit.c1'], 2)}, ${cell(ratios['hs.node_vs_limit.c16'], 2)}; ` +
      `the limit vs werift UDP ${cell(ratios['hs.limit_vs_werift_udp.c1'], 2)}×, ${cell(ratios['hs.limit_vs_werift_udp.c16'], 2)}×`,
  );
  lines.push(
    `measured floor: our engine over bare dgram sockets with the least glue (no Node API), in the Node API's ` +
      `process = ${cell(ratios['hs.floor_vs_limit.c1'], 2)}, ${cell(ratios['hs.floor_vs_limit.c16'], 2)} of that limit ` +
      `(c1, c16); the Node API ${cell(ratios['hs.node_vs_floor.c1'], 2)}, ${cell(ratios['hs.node_vs_floor.c16'], 2)} ` +
      `of the floor; the floor vs werift UDP ${cell(ratios['hs.floor_vs_werift_udp.c1'], 2)}×, ` +
      `${cell(ratios['hs.floor_vs_werift_udp.c16'], 2)}×`,
  );

  lines.push(
    `2 processes: the same limit with plain dgram's own 2-process cost = ${cell(ratios['data2p.limit_2p_1200'])} ` +
      `messages per CPU-second; our fraction ${cell(ratios['data2p.per_cpu_vs_limit_2p_1200'], 2)}`,
  );
  lines.push(
    `2 processes, measured floor (one bare AES-128-GCM seal and open per datagram over dgram, no DTLS): ` +
      `${cell(ratios['data2p.floor_vs_limit_1200'], 2)} of the target's limit; ours ` +
      `${cell(ratios['data2p.per_cpu_vs_floor_1200'], 2)} of the floor`,
  );
  lines.push(
    `engine vs crypto ceiling, c1: P-256 ${cell(ratios['hs.engine_vs_ceiling.p256.c1'], 2)}×, ` +
      `X25519 ${cell(ratios['hs.engine_vs_ceiling.x25519.c1'], 2)}×; one-way vs bare dgram ${cell(ratios['data.oneway_vs_dgram_1200'], 3)}×; ` +
      `vs werift ${cell(ratios['data.oneway_vs_werift_1200'], 2)}×`,
  );
  return lines.join('\n');
}

// ---- main --------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now();
  const rounds: Figures[] = [];
  process.stderr.write(
    `tsdtls bench: ${RUNS} rounds × ${SCENARIOS.length} scenarios, fresh process each, ${MS} ms windows, ` +
      `${os.cpus().length} CPUs, node ${process.version}\n`,
  );
  for (let r = 0; r < RUNS; r++) {
    const elapsedS = (performance.now() - t0) / 1000;
    if (r > 0 && elapsedS + elapsedS / r > BUDGET_S) {
      process.stderr.write(`time budget of ${BUDGET_S} s reached: stopping after ${r} rounds\n`);
      break;
    }
    const figures: Figures = {};
    for (const s of r % 2 === 0 ? SCENARIOS : [...SCENARIOS].reverse()) {
      const start = performance.now();
      Object.assign(figures, await runScenario(s));
      process.stderr.write(
        `  round ${r + 1}/${RUNS} ${s.name}${s.params.variant ? ` ${String(s.params.variant)}` : ''}: ` +
          `${((performance.now() - start) / 1000).toFixed(1)} s\n`,
      );
    }
    rounds.push(figures);
  }

  const keys = new Set(rounds.flatMap((f) => Object.keys(f)));
  const summary: Record<string, Summary | undefined> = {};
  const errors: Record<string, string> = {};
  for (const k of keys) {
    const values = rounds.map((f) => num(f[k])).filter((x): x is number => x !== undefined);
    if (values.length > 0) summary[k] = summarise(values);
    const firstString = rounds.map((f) => f[k]).find((x) => typeof x === 'string');
    if (typeof firstString === 'string') errors[k] = firstString;
  }
  const ratios: Record<string, Summary | undefined> = {};
  for (const [k, f] of Object.entries(RATIOS)) {
    ratios[k] = summarise(rounds.map(f).filter((x): x is number => x !== undefined));
  }

  const text = render(summary, ratios, errors);
  process.stdout.write(`${text}\n`);
  const errorList = Object.entries(errors);
  if (errorList.length > 0) {
    process.stdout.write(`\nerrors:\n${errorList.map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`);
  }
  const elapsed = (performance.now() - t0) / 1000;
  process.stdout.write(
    `\n${rounds.length} rounds in ${elapsed.toFixed(0)} s; JSON in bench-results/latest.json\n`,
  );

  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    'bench-results/latest.json',
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        platform: `${os.platform()} ${os.arch()}`,
        cpus: os.cpus().map((c) => c.model),
        loadavg: os.loadavg(),
        rounds: rounds.length,
        windowMs: MS,
        elapsedS: elapsed,
        summary,
        ratios,
        errors,
        raw: rounds,
        table: text,
      },
      null,
      2,
    )}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
