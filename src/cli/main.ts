import { CERT_USAGE, runCert } from './cert.js';
import { CLIENT_USAGE, runClient } from './client.js';
import { type CliIo, errorLine } from './common.js';
import { runDemo } from './demo.js';
import { runServer, SERVER_USAGE } from './server.js';

const USAGE = `usage:
  ${CLIENT_USAGE}
  ${SERVER_USAGE}
  ${CERT_USAGE}
  tsdtls trace FILE [--keylog FILE] [--port N] [--json] [--html OUT]
  tsdtls demo [--mtu N] [--no-loss]`;

/** The `tsdtls` command. Every failure is one line, `error: <code>: <reason>`, and a non-zero exit. */
export async function main(argv: string[], io: CliIo = process): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'client':
        return await runClient(rest, io);
      case 'server':
        return await runServer(rest, io);
      case 'cert':
        return await runCert(rest, io);
      case 'demo':
        return await runDemo(rest, io);
      case 'trace': {
        const { runTraceCommand } = await import('./trace.js');
        return await runTraceCommand(rest, io);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(`${USAGE}\n`);
        return cmd === undefined ? 2 : 0;
      default:
        io.stderr.write(`error: invalid_argument: unknown command ${JSON.stringify(cmd)}\n${USAGE}\n`);
        return 2;
    }
  } catch (e) {
    io.stderr.write(`${errorLine(e)}\n`);
    return (e as { code?: string }).code === 'invalid_argument' ||
      (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      ? 2
      : 1;
  }
}
