import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRecordCipher } from '../../src/crypto/aead.js';
import {
  computeExtendedMasterSecret,
  computeVerifyData,
  expandKeys,
  exportKeyingMaterial,
  pskPremasterSecret,
  transcriptHash,
} from '../../src/crypto/prf.js';
import { suiteByName } from '../../src/crypto/suites.js';
import { ContentType, HandshakeType } from '../../src/wire/constants.js';
import { Reader } from '../../src/wire/reader.js';
import { OPENSSL_PSK_HANDSHAKES } from './fixtures/openssl-dtls-psk.js';

/**
 * Replays real OpenSSL DTLS 1.2 PSK handshakes: from the PSK and the captured plaintext messages our key
 * schedule must reach OpenSSL's master secret, our record ciphers must open OpenSSL's encrypted Finished,
 * application data and alert records (and, where OpenSSL uses epoch || seq as explicit nonce, seal them
 * byte for byte), and our exporter must give what OpenSSL printed.
 */

interface CapturedRecord {
  readonly fromClient: boolean;
  readonly type: number;
  readonly version: number;
  readonly epoch: number;
  readonly seq: number;
  readonly fragment: Buffer;
}

/** Splits datagrams into DTLS records (RFC 6347 §4.1: type, version, epoch, sequence_number, length). */
function parseRecords(datagrams: readonly { dir: string; hex: string }[]): CapturedRecord[] {
  const records: CapturedRecord[] = [];
  for (const d of datagrams) {
    const r = new Reader(Buffer.from(d.hex, 'hex'));
    while (!r.atEnd()) {
      const type = r.u8();
      const version = r.u16();
      const epoch = r.u16();
      const seq = r.u48();
      const fragment = r.vec16();
      records.push({ fromClient: d.dir === 'c2s', type, version, epoch, seq, fragment });
    }
  }
  return records;
}

/** The message type of a whole (unfragmented) DTLS handshake message, checking it is unfragmented. */
function handshakeType(message: Buffer): number {
  const r = new Reader(message);
  const type = r.u8();
  const length = r.u24();
  r.u16(); // message_seq
  assert.equal(r.u24(), 0, 'fragment_offset');
  assert.equal(r.u24(), length, 'fragment_length');
  return type;
}

/** The 32-byte random of a ClientHello or ServerHello body (after the 12-byte DTLS header and version). */
function helloRandom(message: Buffer): Buffer {
  return message.subarray(12 + 2, 12 + 2 + 32);
}

for (const h of OPENSSL_PSK_HANDSHAKES) {
  test(`OpenSSL DTLS 1.2 ${h.opensslName}: key schedule, record protection and exporter agree`, () => {
    const suite = suiteByName(h.opensslName);
    assert.ok(suite, h.opensslName);
    const hash = suite.prfHash;
    const records = parseRecords(h.datagrams);

    // RFC 6347 §4.2.6: the transcript is every handshake message with its 12-byte DTLS header, except the
    // first ClientHello and the HelloVerifyRequest.
    const plainHandshake = records.filter((r) => r.epoch === 0 && r.type === ContentType.handshake);
    const hvrIndex = plainHandshake.findIndex(
      (r) => handshakeType(r.fragment) === HandshakeType.hello_verify_request,
    );
    assert.equal(hvrIndex, 1, 'OpenSSL did a cookie exchange');
    const transcript = plainHandshake.slice(hvrIndex + 1).map((r) => r.fragment);
    assert.deepEqual(transcript.map(handshakeType), [
      HandshakeType.client_hello,
      HandshakeType.server_hello,
      HandshakeType.server_hello_done,
      HandshakeType.client_key_exchange,
    ]);
    const clientRandom = helloRandom(transcript[0]!);
    const serverRandom = helloRandom(transcript[1]!);
    assert.equal(clientRandom.toString('hex'), h.clientRandom);

    // RFC 7627 §4 + RFC 4279 §2: OpenSSL negotiated extended_master_secret.
    const sessionHash = transcriptHash(hash, transcript);
    const masterSecret = computeExtendedMasterSecret(
      hash,
      pskPremasterSecret(Buffer.from(h.psk, 'hex')),
      sessionHash,
    );
    assert.equal(masterSecret.toString('hex'), h.masterSecret);

    const keys = expandKeys(suite, masterSecret, clientRandom, serverRandom);
    const clientCipher = createRecordCipher(suite, keys.clientWriteKey, keys.clientWriteIv);
    const serverCipher = createRecordCipher(suite, keys.serverWriteKey, keys.serverWriteIv);
    const open = (r: CapturedRecord) => {
      const plaintext = (r.fromClient ? clientCipher : serverCipher).open(
        r.epoch,
        r.seq,
        r.type,
        r.version,
        r.fragment,
      );
      assert.ok(plaintext, `record ${r.fromClient ? 'c2s' : 's2c'} epoch ${r.epoch} seq ${r.seq} opens`);
      return plaintext;
    };
    const encrypted = records.filter((r) => r.epoch === 1);

    // Client Finished (RFC 5246 §7.4.9): header type 20, 12 bytes of verify_data.
    const clientFinishedRecord = encrypted.find((r) => r.fromClient && r.type === ContentType.handshake)!;
    const clientFinished = open(clientFinishedRecord);
    assert.equal(handshakeType(clientFinished), HandshakeType.finished);
    assert.deepEqual(
      clientFinished.subarray(12),
      computeVerifyData(hash, masterSecret, 'client finished', sessionHash),
    );

    const serverFinished = open(encrypted.find((r) => !r.fromClient && r.type === ContentType.handshake)!);
    assert.equal(handshakeType(serverFinished), HandshakeType.finished);
    assert.deepEqual(
      serverFinished.subarray(12),
      computeVerifyData(
        hash,
        masterSecret,
        'server finished',
        transcriptHash(hash, [...transcript, clientFinished]),
      ),
    );

    const appRecord = encrypted.find((r) => r.type === ContentType.application_data)!;
    assert.equal(open(appRecord).toString(), 'hello from openssl\n');
    // close_notify from both sides (RFC 5246 §7.2.1).
    const alerts = encrypted.filter((r) => r.type === ContentType.alert);
    assert.equal(alerts.length, 2);
    for (const a of alerts) assert.deepEqual(open(a), Buffer.from([1, 0]));

    // OpenSSL uses epoch || seq as the CCM explicit nonce, and ChaCha20 has none, so our sealing must
    // reproduce its records exactly. (For GCM OpenSSL sends a counter from a random start, RFC 5288 §3
    // allows that; opening above already showed we honour the received explicit nonce.)
    if (!suite.aead.includes('gcm')) {
      for (const r of [clientFinishedRecord, appRecord]) {
        const plaintext = open(r);
        assert.deepEqual(clientCipher.seal(r.epoch, r.seq, r.type, r.version, plaintext), r.fragment);
      }
    }

    // RFC 5705 exporter, as printed by both s_client and s_server (-keymatexport, no context).
    assert.equal(
      exportKeyingMaterial(
        hash,
        masterSecret,
        clientRandom,
        serverRandom,
        h.exporterLabel,
        undefined,
        20,
      ).toString('hex'),
      h.exporterOutput,
    );
  });
}
