/**
 * One benchmark scenario in a fresh process: `node --expose-gc dist/bench/worker.js <scenario> [json]`.
 * Prints one `BENCH_RESULT {…}` line (see lib/common.ts) and exits. bench/run.ts spawns these.
 */
import { emitResult, type Figures, type HandshakeVariant } from './lib/common.js';
import { dgramData, nodeData } from './scenarios/data.js';
import { engineHandshakes } from './scenarios/engine-handshake.js';
import { memoryPerSession } from './scenarios/memory.js';
import { handshakeServer, nodeHandshakeClient, nodeHandshakes } from './scenarios/node-handshake.js';
import { recordLayerBench } from './scenarios/record.js';
import { cryptoCeiling, tlsReference } from './scenarios/references.js';
import { scale } from './scenarios/scale.js';
import { weriftReference } from './scenarios/werift.js';

type Params = Record<string, unknown>;

const SCENARIOS: Record<string, (p: Params) => Promise<Figures>> = {
  'engine-handshake': (p) =>
    engineHandshakes(
      p.variant as HandshakeVariant,
      (p.concurrency as number[]) ?? [1, 16],
      (p.durationMs as number) ?? 1000,
    ),
  'node-handshake': (p) =>
    nodeHandshakes(
      p.variant as HandshakeVariant,
      (p.concurrency as number[]) ?? [1, 16],
      (p.durationMs as number) ?? 1000,
    ),
  'handshake-server': (p) => handshakeServer(p.variant as HandshakeVariant, (p.limitMs as number) ?? 30_000),
  'handshake-client': (p) =>
    nodeHandshakeClient(
      p.variant as HandshakeVariant,
      p.port as number,
      p.fingerprint as string | undefined,
      (p.concurrency as number[]) ?? [1, 16],
      (p.durationMs as number) ?? 1000,
    ),
  'node-data': (p) => nodeData((p.durationMs as number) ?? 1000),
  'dgram-data': (p) => dgramData((p.durationMs as number) ?? 1000),
  record: async (p) => recordLayerBench((p.durationMs as number) ?? 500),
  tls: (p) => tlsReference((p.concurrency as number[]) ?? [1, 16], (p.durationMs as number) ?? 1000),
  ceiling: (p) => cryptoCeiling((p.durationMs as number) ?? 500),
  werift: (p) => weriftReference((p.concurrency as number[]) ?? [1, 16], (p.durationMs as number) ?? 1000),
  memory: (p) => memoryPerSession((p.sessions as number) ?? 1000),
  scale: (p) => scale((p.sessions as number) ?? 10_000, (p.durationMs as number) ?? 1000),
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
