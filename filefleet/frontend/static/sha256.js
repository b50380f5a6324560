// Incremental SHA-256 (FIPS 180-4) in plain JavaScript, for the whole-file hash of an upload:
// WebCrypto's crypto.subtle.digest hashes one buffer at once and has no streaming form, and a
// file of several GiB does not fit in one buffer. Chunks are hashed with WebCrypto; this
// object is fed every chunk in order. tests/browser/test_upload_page.py checks it against
// Python's hashlib on lengths around the 55/56/64-byte padding edges and random splits.
//
//   const h = new FilefleetSha256(); h.update(bytes1); h.update(bytes2); h.hex()
"use strict";
(function (root) {
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  class Sha256 {
    constructor() {
      this.state = new Uint32Array([
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
      ]);
      this.w = new Uint32Array(64);
      this.block = new Uint8Array(64); // bytes waiting for a full 64-byte block
      this.blockLength = 0;
      this.length = 0; // bytes fed so far (exact up to 2^53)
    }

    update(data) {
      const n = data.length;
      let pos = 0;
      this.length += n;
      if (this.blockLength > 0) {
        const take = Math.min(64 - this.blockLength, n);
        this.block.set(data.subarray(0, take), this.blockLength);
        this.blockLength += take;
        pos = take;
        if (this.blockLength < 64) return this;
        this.compress(this.block, 0);
        this.blockLength = 0;
      }
      for (; pos + 64 <= n; pos += 64) this.compress(data, pos);
      if (pos < n) {
        this.block.set(data.subarray(pos), 0);
        this.blockLength = n - pos;
      }
      return this;
    }

    compress(bytes, offset) {
      const w = this.w;
      for (let i = 0; i < 16; i++) {
        const j = offset + 4 * i;
        w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
      }
      for (let i = 16; i < 64; i++) {
        const x = w[i - 15];
        const y = w[i - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      const H = this.state;
      let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (h + S1 + ch + K[i] + w[i]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        h = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + S0 + maj) | 0;
      }
      H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }

    // The digest as 32 bytes. The object is finished afterwards: feed a new one.
    digest() {
      const bitsHigh = Math.floor(this.length / 0x20000000);
      const bitsLow = (this.length * 8) >>> 0;
      const padLength = (this.blockLength < 56 ? 56 : 120) - this.blockLength;
      const tail = new Uint8Array(padLength + 8);
      tail[0] = 0x80;
      const view = new DataView(tail.buffer);
      view.setUint32(padLength, bitsHigh);
      view.setUint32(padLength + 4, bitsLow);
      const length = this.length;
      this.update(tail);
      this.length = length;
      const out = new Uint8Array(32);
      const outView = new DataView(out.buffer);
      for (let i = 0; i < 8; i++) outView.setUint32(4 * i, this.state[i]);
      return out;
    }

    hex() {
      return toHex(this.digest());
    }
  }

  function toHex(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, "0");
    return s;
  }

  root.FilefleetSha256 = Sha256;
  root.filefleetHex = toHex;
})(self);
