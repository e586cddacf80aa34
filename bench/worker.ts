/**
 * One benchmark scenario in a fresh process: `node --expose-gc dist/bench/worker.js <scenario> [json]`.
 * Prints one `BENCH_RESULT {…}` line (see lib/common.ts) and exits. bench/run.ts spawns these.
 * Each scenario's module is imported only when it runs, so a process loads (and the JIT sees) only the
 * code it measures: the record-layer figures moved by several percent when every scenario was loaded.
 */
import { emitResult, type Figures, type HandshakeVariant } from './lib/common.js';
import type { DataMode } from './scenarios/data-two-process.js';
import type { ServerPorts } from './scenarios/node-handshake.js';

type Params = Record<string, unknown>;

const SCENARIOS: Record<string, (p: Params) => Promise<Figures>> = {
  'engine-handshake': async (p) =>
    (await import('./scenarios/engine-handshake.js')).engineHandshakes(
      p.variant as HandshakeVariant,
      (p.concurrency as number[]) ?? [1, 16],
      (p.durationMs as number) ?? 1000,
    ),
  'node-handshake': async (p) =>
    (await import('./scenarios/node-handshake.js')).nodeHandshakes(
      p.variant as HandshakeVariant,
      (p.concurrency as number[]) ?? [1, 16],
      (p.durationMs as number) ?? 1000,
      p.floor === true,
    ),
  'handshake-server': async (p) =>
    (await import('./scenarios/node-handshake.js')).handshakeServer(
      p.variants as HandshakeVariant[],
      (p.limitMs as number) ?? 30_000,
    ),
  'handshake-client': async (p) =>
    (await import('./scenarios/node-handshake.js')).nodeHandshakeClient(
      JSON.parse(p.info as string) as ServerPorts,
      p.variants as HandshakeVariant[],
      (p.concurrency as number[]) ?? [1, 16],
      (p.durationMs as Partial<Record<HandshakeVariant, number>>) ?? {},
    ),
  'data-server': async (p) =>
    (await import('./scenarios/data-two-process.js')).dataServer(
      (p.mode as DataMode | undefined) ?? 'dtls',
      (p.limitMs as number) ?? 30_000,
    ),
  'data-client': async (p) =>
    (await import('./scenarios/data-two-process.js')).dataClient(
      (p.mode as DataMode | undefined) ?? 'dtls',
      p.port as number,
      p.info === '-' ? undefined : (p.info as string | undefined),
      (p.durationMs as number) ?? 1000,
    ),
  'node-data': async (p) => (await import('./scenarios/data.js')).nodeData((p.durationMs as number) ?? 1000),
  'dgram-data': async (p) =>
    (await import('./scenarios/data.js')).dgramData((p.durationMs as number) ?? 1000),
  record: async (p) =>
    (await import('./scenarios/record.js')).recordLayerBench((p.durationMs as number) ?? 500),
  tls: async (p) =>
    (await import('./scenarios/references.js')).tlsReference(
      (p.concurrency as number[]) ?? [1, 16],
      (p.durationMs as number) ?? 1000,
    ),
  ceiling: async (p) =>
    (await import('./scenarios/references.js')).cryptoCeiling((p.durationMs as number) ?? 500),
  'udp-exchange': async (p) =>
    (await import('./scenarios/udp-exchange.js')).udpExchange(
      (p.concurrency as number[]) ?? [1, 16],
      (p.durationMs as number) ?? 1000,
    ),
  werift: async (p) =>
    (await import('./scenarios/werift.js')).weriftReference(
      (p.concurrency as number[]) ?? [1, 16],
      (p.durationMs as number) ?? 1000,
    ),
  memory: async (p) =>
    (await import('./scenarios/memory.js')).memoryPerSession((p.sessions as number) ?? 1000),
  scale: async (p) =>
    (await import('./scenarios/scale.js')).scale(
      (p.sessions as number) ?? 10_000,
      (p.durationMs as number) ?? 1000,
    ),
};

async function main(): Promise<void> {
  const [name, json] = process.argv.slice(2);
  const scenario = name === undefined ? undefined : SCENARIOS[name];
  if (!scenario) {
    process.stderr.write(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}\n`);
    process.exit(2);
  }
  const params = json ? (JSON.parse(json) as Params) : {};
  emitResult(await scenario(params));
  // Servers and sockets are closed by each scenario; exit anyway so a stray handle cannot hang the run.
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
