/**
 * The long fuzzer: `npm run fuzz -- --iterations N [--seed S] [--endpoint-iterations M]`. It drives
 * real engines of both roles to every handshake state and feeds them mutations of genuine traffic
 * (raw, and sealed again under the real keys so they reach the handshake layer), then feeds the server
 * endpoint's stateless path mutated ClientHellos. The summary is what the README's reliability
 * section quotes: inputs tried, crashes (must be 0), peak heap and time. Exits 1 on any crash.
 */
import { type FuzzReport, fuzzEndpoint, fuzzEngine } from '../test/scripted/hostile-peer.js';

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} wants a non-negative integer`);
  return v;
}

const MB = 1024 * 1024;

function print(label: string, r: FuzzReport): void {
  console.log(`${label}:`);
  console.log(`  runs                ${r.runs}`);
  console.log(`  inputs tried        ${r.inputs}`);
  console.log(`  crashes             ${r.crashes}`);
  console.log(`  internal errors     ${r.findings.filter((f) => f.kind === 'internal').length}`);
  console.log(`  slowest input       ${r.slowestInputMs.toFixed(1)} ms`);
  console.log(
    `  heap at start/peak  ${(r.heapUsedStart / MB).toFixed(1)} / ${(r.peakHeapUsed / MB).toFixed(1)} MB`,
  );
  console.log(`  time                ${(r.timeMs / 1000).toFixed(1)} s`);
  const outcomes = Object.entries(r.outcomes).sort((a, b) => b[1] - a[1]);
  console.log(`  outcomes            ${outcomes.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const f of r.findings.slice(0, 10)) {
    console.log(
      `  ! ${f.kind} ${f.scenario} ${f.role} step ${f.step}: ${f.error.split('\n').slice(0, 4).join(' | ')}`,
    );
    console.log(`    input ${f.input.slice(0, 200)}`);
  }
}

async function main(): Promise<void> {
  const iterations = argument('iterations', 2000);
  const seed = argument('seed', 1);
  const endpointIterations = argument('endpoint-iterations', Math.max(1, Math.floor(iterations / 4)));
  const engine = await fuzzEngine({ seed, runs: iterations });
  print(`engine fuzz (seed ${seed}, ${iterations} runs)`, engine);
  const endpoint = await fuzzEndpoint({ seed, runs: endpointIterations });
  print(`endpoint fuzz (seed ${seed}, ${endpointIterations} runs)`, endpoint);
  const total = engine.inputs + endpoint.inputs;
  const crashes = engine.crashes + endpoint.crashes;
  console.log(
    `summary: ${total} inputs, ${crashes} crashes, peak heap ${(Math.max(engine.peakHeapUsed, endpoint.peakHeapUsed) / MB).toFixed(1)} MB, ${((engine.timeMs + endpoint.timeMs) / 1000).toFixed(1)} s`,
  );
  if (crashes > 0) process.exitCode = 1;
}

await main();
