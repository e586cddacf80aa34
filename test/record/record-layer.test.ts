import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createRecordCipher } from '../../src/crypto/aead.js';
import { CIPHER_SUITES } from '../../src/crypto/suites.js';
import { RecordLayer } from '../../src/record/record-layer.js';
import { ContentType } from '../../src/wire/constants.js';

// The Node adapter sends application data as the record's parts, gathered by the socket
// (sealGathered); sans-IO users get one buffer (seal). Both must put the same bytes on the wire.

test('sealGathered and seal produce the same record, which the peer opens, in every suite', () => {
  for (const suite of CIPHER_SUITES) {
    const key = randomBytes(suite.keyLength);
    const iv = randomBytes(suite.fixedIvLength);
    const writer = (): RecordLayer => {
      const l = new RecordLayer();
      l.addWriteEpoch(1, createRecordCipher(suite, key, iv));
      l.setWriteEpoch(1);
      return l;
    };
    const whole = writer();
    const gathered = writer();
    const reader = new RecordLayer();
    reader.setPendingReadCipher(1, createRecordCipher(suite, key, iv));
    reader.activatePendingRead();
    for (const size of [0, 1, 1200, 16384]) {
      const data = randomBytes(size);
      const a = whole.seal(ContentType.application_data, data);
      const parts = gathered.sealGathered(ContentType.application_data, data);
      assert.ok(parts.length >= 3, `${suite.name}: header, ciphertext and tag at least`);
      const b = Buffer.concat(parts);
      assert.deepEqual(b, a, `${suite.name} ${size} B`);
      const [raw] = reader.splitDatagram(b);
      const opened = reader.openRecord(raw!);
      assert.ok(opened, `${suite.name} ${size} B opens`);
      assert.equal(opened.type, ContentType.application_data);
      assert.deepEqual(opened.data, data);
    }
  }
});

test('sealGathered on an epoch without keys is one plaintext record, as seal', () => {
  const a = new RecordLayer();
  const b = new RecordLayer();
  const data = Buffer.from('a plaintext record in epoch 0');
  const parts = b.sealGathered(ContentType.alert, data);
  assert.equal(parts.length, 1);
  assert.deepEqual(parts[0], a.seal(ContentType.alert, data));
});
