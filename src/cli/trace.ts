/**
 * `tsdtls trace FILE [--keylog FILE] [--port N] [--json] [--html OUT]`: draw the DTLS flows of a pcap or
 * pcapng capture as ladder diagrams (see src/trace/ladder.ts), as JSON, or as an HTML page. Every failure
 * is one `error: …` line on stderr and a non-zero exit code, never a stack trace.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseKeylog, TraceError, type TraceOptions, traceCapture } from '../trace/decode-flow.js';
import { renderHtml } from '../trace/html-diagram.js';
import { renderLadder } from '../trace/ladder.js';

export const TRACE_USAGE = `usage: tsdtls trace FILE [--keylog FILE] [--port N] [--json] [--html OUT]

Draw every DTLS flow of a pcap/pcapng capture as a ladder diagram: one row per record, grouped into
flights, with fragments, retransmissions, the cookie exchange and the handshake fields.

  --keylog FILE  NSS key log (CLIENT_RANDOM lines) to decrypt epoch-1 records (Finished, application data)
  --port N       only flows with UDP port N on either side
  --json         print a machine-readable JSON structure instead of the ladder
  --html OUT     also write a self-contained HTML page with an SVG sequence diagram to OUT
`;

interface TraceIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

class UsageError extends Error {}

function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TraceError(`cannot read ${what} ${path}${code ? ` (${code})` : ''}`);
  }
}

function portArg(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new UsageError(`--port must be an integer in 1..65535, not ${JSON.stringify(v)}`);
  }
  return n;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** Runs the command; resolves with the exit code (0 ok, 1 bad input, 2 bad command line). */
export async function runTraceCommand(argv: string[], io: TraceIo): Promise<number> {
  try {
    let parsed: ReturnType<typeof parseTraceArgs>;
    try {
      parsed = parseTraceArgs(argv);
    } catch (e) {
      throw e instanceof UsageError ? e : new UsageError((e as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.stdout.write(TRACE_USAGE);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0 ? 'give the capture FILE' : 'give exactly one capture FILE',
      );
    }
    const file = positionals[0]!;
    const options: TraceOptions = { port: portArg(values.port) };
    if (values.keylog !== undefined) {
      options.keylog = parseKeylog(readInput(values.keylog, 'key log').toString('utf8'));
    }
    const trace = traceCapture(readInput(file, 'capture'), options);
    if (values.html !== undefined) {
      try {
        writeFileSync(values.html, renderHtml(trace, `DTLS trace of ${file}`));
      } catch (e) {
        throw new TraceError(`cannot write ${values.html}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    }
    if (values.json) {
      io.stdout.write(`${JSON.stringify(trace, null, 2)}\n`);
    } else {
      const tty = (io.stdout as { isTTY?: boolean }).isTTY === true;
      const color = tty && process.env.NO_COLOR === undefined;
      io.stdout.write(renderLadder(trace, { color }));
      if (values.html !== undefined) io.stdout.write(`wrote ${values.html}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`error: ${oneLine(e.message)}\n${TRACE_USAGE.split('\n')[0]}\n`);
      return 2;
    }
    const message = e instanceof Error ? e.message : String(e);
    // Anything else is a bug in the decoder; still one line, as promised.
    const prefix = e instanceof TraceError ? '' : 'internal error: ';
    io.stderr.write(`error: ${prefix}${oneLine(message)}\n`);
    return 1;
  }
}

function parseTraceArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      keylog: { type: 'string' },
      port: { type: 'string' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
