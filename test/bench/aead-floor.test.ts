import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { bareAeadChannel } from '../../bench/lib/aead-floor.js';
import { createRecordCipher } from '../../src/crypto/aead.js';
import { suiteByName } from '../../src/crypto/suites.js';
import { RecordLayer } from '../../src/record/record-layer.js';
import { ContentType } from '../../src/wire/constants.js';

// The benchmark's floor is only a floor if it does the work a DTLS record needs: its records must be
// ones our record layer accepts, and it must open ours. The floor has no handshake, so its salt (the
// fixed IV of RFC 5288 §3) is four zero bytes.

const suite = suiteByName('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256')!;
const ZERO_SALT = Buffer.alloc(4);

test('a record the bare AES-GCM floor seals is a DTLS 1.2 record our record layer opens', () => {
  const key = randomBytes(16);
  const floor = bareAeadChannel(key, undefined);
  const reader = new RecordLayer();
  reader.setPendingReadCipher(1, createRecordCipher(suite, key, ZERO_SALT));
  reader.activatePendingRead();
  for (const size of [0, 1, 1200]) {
    const data = randomBytes(size);
    const [raw, ...more] = reader.splitDatagram(Buffer.concat(floor.seal(data)));
    assert.equal(more.length, 0);
    const opened = reader.openRecord(raw!);
    assert.ok(opened, `${size} B opens`);
    assert.equal(opened.type, ContentType.application_data);
    assert.deepEqual(opened.data, data);
  }
});

test('the floor opens our records and refuses a tampered one', () => {
  const key = randomBytes(16);
  const writer = new RecordLayer();
  writer.addWriteEpoch(1, createRecordCipher(suite, key, ZERO_SALT));
  writer.setWriteEpoch(1);
  const floor = bareAeadChannel(randomBytes(16), key);
  const data = randomBytes(1200);
  const record = Buffer.concat(writer.sealGathered(ContentType.application_data, data));
  assert.deepEqual(floor.open(record), data);
  record[30]! ^= 1;
  assert.equal(floor.open(record), null);
  assert.equal(floor.open(record.subarray(0, 20)), null, 'shorter than header, nonce and tag');
});
