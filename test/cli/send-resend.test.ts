import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { after, test } from 'node:test';
import { generateCertificate } from '../../src/cert/generate.js';
import { createServer } from '../../src/node/server.js';

// DTLS never retransmits application data (RFC 6347 §4.1.2.7 leaves that to the application), so
// `tsdtls client --send` resends its text every second until a reply arrives: over a link that loses
// the first two application datagrams, it still gets its answer.

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

test('client --send resends until the reply arrives, over a relay that drops the first application data', async () => {
  const cert = await generateCertificate();
  const server = createServer({ cert: cert.cert, key: cert.key }, (s) =>
    s.on('message', (m: Buffer) => s.send(Buffer.concat([Buffer.from('re: '), m]))),
  );
  const { port: serverPort } = await server.listen(0, '127.0.0.1');
  const relay = dgram.createSocket('udp4');
  let client: dgram.RemoteInfo | undefined;
  let dropped = 0;
  relay.on('message', (msg, rinfo) => {
    if (rinfo.port === serverPort) {
      if (client) relay.send(msg, client.port, client.address);
      return;
    }
    client = rinfo;
    // Content type 23: application data. Lose the first two.
    if (msg[0] === 23 && dropped < 2) {
      dropped++;
      return;
    }
    relay.send(msg, serverPort, '127.0.0.1');
  });
  await new Promise<void>((resolve) => relay.bind(0, '127.0.0.1', resolve));
  const args = ['bin/tsdtls.js', 'client', '--port', String(relay.address().port)];
  const child = spawn(process.execPath, [
    ...args,
    '--fingerprint',
    cert.fingerprint,
    '--send',
    'are you there',
    '--timeout',
    '8000',
  ]);
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  relay.close();
  await server.close();
  assert.equal(code, 0, err);
  assert.equal(out.trim(), 're: are you there');
  assert.equal(dropped, 2, 'the first two sends were lost; the third got through');
});
