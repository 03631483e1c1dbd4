/** Our key-object Diffie-Hellman agrees with Node's classic DH, for every RTMFP group. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDiffieHellman } from 'node:crypto';
import { dhKeyPair, SUPPORTED_GROUPS } from '../../src/crypto/dh';

for (const group of SUPPORTED_GROUPS) {
  test(`DH group ${group}: same secret as crypto.getDiffieHellman, public key padded to the prime`, () => {
    const classic = getDiffieHellman(`modp${group}`);
    classic.generateKeys();
    for (let i = 0; i < 3; i++) {
      const ours = dhKeyPair(group)!;
      assert.equal(ours.publicKey.length, classic.getPrime().length);
      const theirs = classic.computeSecret(ours.publicKey);
      let z = 0;
      while (theirs[z] === 0) z++;
      assert.deepEqual(ours.secret(classic.getPublicKey()), theirs.subarray(z), 'leading zeros stripped like DH_compute_key');
    }
  });
}

test('unknown group → null; invalid public value → throws', () => {
  assert.equal(dhKeyPair(1), null);
  assert.throws(() => dhKeyPair(2)!.secret(Buffer.from([1])));
});
