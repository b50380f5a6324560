// End-to-end encryption in the browser: format v1, byte for byte what
// filefleet/core/encryption.py writes and reads (docs/encryption.md), with WebCrypto's
// AES-GCM and HKDF. Loaded by the upload page, its hashing worker, the landing page and
// the download Service Worker (e2e-sw.js): it uses only `self`.
//
//   prefix   37 bytes: "FLEETE2E", version 1, salt (16), nonce base (12)
//   header   4096 bytes: sealed JSON {name, size, content_type}, 2-byte length first
//   records  65536-byte plaintext records, each sealed (+16-byte tag); the last one may
//            be shorter; an empty file has one empty record
// Record i: nonce = nonce base XOR i (in its last 8 bytes), associated data = prefix,
// i (8 bytes) and a flag set on the last record only.
"use strict";
self.filefleetE2E = (function () {
  const MAGIC = new TextEncoder().encode("FLEETE2E");
  const VERSION = 1;
  const SALT = 16;
  const NONCE = 12;
  const TAG = 16;
  const PREFIX = MAGIC.length + 1 + SALT + NONCE; // 37
  const HEADER = 4096;
  const LEAD = PREFIX + HEADER; // 4133
  const RECORD = 65536;
  const SEALED = RECORD + TAG;
  const PLACEHOLDER_NAME = "encrypted.bin";
  const PLACEHOLDER_TYPE = "application/octet-stream";
  const HEADER_INFO = new TextEncoder().encode("filefleet e2e v1 header");
  const CONTENT_INFO = new TextEncoder().encode("filefleet e2e v1 content");

  class DecryptionFailed extends Error {}

  function subtle() {
    const s = self.crypto && self.crypto.subtle;
    if (!s) {
      throw new DecryptionFailed("this page needs a secure connection (https) to encrypt " +
        "or decrypt; use `filefleet get` with the whole link instead");
    }
    return s;
  }

  function toText(bytes) {
    let text = "";
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromText(text) {
    const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(plain, (c) => c.charCodeAt(0));
  }

  function keyFromText(text) {
    let key = null;
    try {
      key = /^[A-Za-z0-9_-]{43}$/.test(text) ? fromText(text) : null;
    } catch (err) {
      key = null;
    }
    if (!key || key.length !== 32) {
      throw new DecryptionFailed("the link's key (after '#') is not a 256-bit key: " +
        "check that the whole link was copied");
    }
    return key;
  }

  function random(n) {
    return self.crypto.getRandomValues(new Uint8Array(n));
  }

  // A new file's secrets, as text (what the upload page keeps to resume the upload).
  function newSecrets() {
    return { key: toText(random(32)), salt: toText(random(SALT)), nonce: toText(random(NONCE)) };
  }

  const recordCount = (size) => Math.max(1, Math.ceil(size / RECORD));
  const encryptedSize = (size) => LEAD + size + TAG * recordCount(size);

  async function derive(key, salt, info, usage) {
    const base = await subtle().importKey("raw", key, "HKDF", false, ["deriveKey"]);
    return subtle().deriveKey(
      { name: "HKDF", hash: "SHA-256", salt, info }, base,
      { name: "AES-GCM", length: 256 }, false, [usage]);
  }

  function nonceOf(base, index) {
    const nonce = base.slice();
    const view = new DataView(nonce.buffer);
    view.setUint32(4, view.getUint32(4) ^ Math.floor(index / 2 ** 32));
    view.setUint32(8, (view.getUint32(8) ^ index) >>> 0);
    return nonce;
  }

  function recordAad(prefix, index, last) {
    const aad = new Uint8Array(PREFIX + 9);
    aad.set(prefix);
    const view = new DataView(aad.buffer);
    view.setUint32(PREFIX, Math.floor(index / 2 ** 32));
    view.setUint32(PREFIX + 4, index >>> 0);
    aad[PREFIX + 8] = last ? 1 : 0;
    return aad;
  }

  function makePrefix(salt, nonce) {
    const prefix = new Uint8Array(PREFIX);
    prefix.set(MAGIC);
    prefix[MAGIC.length] = VERSION;
    prefix.set(salt, MAGIC.length + 1);
    prefix.set(nonce, MAGIC.length + 1 + SALT);
    return prefix;
  }

  // Encrypts one file: lead() then seal(i, plaintext of record i).
  class Sealer {
    static async create(secrets, header) {
      const sealer = new Sealer();
      const key = keyFromText(secrets.key);
      sealer.salt = fromText(secrets.salt);
      sealer.nonce = fromText(secrets.nonce);
      sealer.header = header;
      sealer.prefix = makePrefix(sealer.salt, sealer.nonce);
      sealer.headerKey = await derive(key, sealer.salt, HEADER_INFO, "encrypt");
      sealer.contentKey = await derive(key, sealer.salt, CONTENT_INFO, "encrypt");
      sealer.records = recordCount(header.size);
      sealer.size = encryptedSize(header.size);
      return sealer;
    }

    async lead() {
      const text = new TextEncoder().encode(JSON.stringify({
        name: this.header.name, size: this.header.size, content_type: this.header.content_type,
      }));
      if (text.length > HEADER - TAG - 2) throw new Error("name: too long to encrypt");
      const plain = new Uint8Array(HEADER - TAG);
      new DataView(plain.buffer).setUint16(0, text.length);
      plain.set(text, 2);
      const sealed = await subtle().encrypt(
        { name: "AES-GCM", iv: this.nonce, additionalData: this.prefix }, this.headerKey, plain);
      const out = new Uint8Array(LEAD);
      out.set(this.prefix);
      out.set(new Uint8Array(sealed), PREFIX);
      return out;
    }

    async seal(index, plain) {
      const last = index === this.records - 1;
      const sealed = await subtle().encrypt(
        { name: "AES-GCM", iv: nonceOf(this.nonce, index),
          additionalData: recordAad(this.prefix, index, last) },
        this.contentKey, plain);
      return new Uint8Array(sealed);
    }

    // Ciphertext bytes [start, end), from read(offset, length) -> Promise<Uint8Array> of
    // the plaintext: the records that overlap are sealed (again: the same bytes) and cut.
    async range(read, start, end) {
      end = Math.min(end, this.size);
      const out = new Uint8Array(Math.max(0, end - start));
      let at = 0;
      if (start >= end) return out;
      if (start < LEAD) {
        const lead = (await this.lead()).subarray(start, Math.min(end, LEAD));
        out.set(lead);
        at += lead.length;
      }
      if (end > LEAD) {
        const first = Math.max(0, Math.floor((start - LEAD) / SEALED));
        const lastIndex = Math.min(this.records - 1, Math.floor((end - 1 - LEAD) / SEALED));
        for (let i = first; i <= lastIndex; i++) {
          const offset = i * RECORD;
          const length = Math.min(RECORD, this.header.size - offset);
          const sealed = await this.seal(i, await read(offset, length));
          const where = LEAD + i * SEALED;
          const piece = sealed.subarray(Math.max(0, start - where), end - where);
          out.set(piece, at);
          at += piece.length;
        }
      }
      return out;
    }
  }

  // The ciphertext of `file` as the upload page reads it: size and bytes(start, end).
  async function encryptedSource(file, secrets) {
    const header = { name: file.name, size: file.size,
      content_type: file.type || PLACEHOLDER_TYPE };
    const sealer = await Sealer.create(secrets, header);
    const read = async (offset, length) =>
      new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
    return { size: sealer.size, bytes: (start, end) => sealer.range(read, start, end) };
  }

  // Decrypts a stream of ciphertext as it arrives: feed() gives back the verified
  // plaintext of every record completed, finish() checks that nothing was cut off.
  class Opener {
    constructor(keyText) {
      this.key = keyFromText(keyText);
      this.header = null;
      this.pending = new Uint8Array(0);
      this.index = 0;
      this.records = 0;
    }

    append(bytes) {
      const joined = new Uint8Array(this.pending.length + bytes.length);
      joined.set(this.pending);
      joined.set(bytes, this.pending.length);
      this.pending = joined;
    }

    sealedLength() {
      if (this.index === this.records - 1) return this.header.size - this.index * RECORD + TAG;
      return SEALED;
    }

    async feed(bytes) {
      this.append(bytes);
      const out = [];
      if (!this.header) {
        if (this.pending.length < LEAD) return out;
        await this.openLead(this.pending.subarray(0, LEAD));
        this.pending = this.pending.slice(LEAD);
      }
      let used = 0;
      while (this.index < this.records && this.pending.length - used >= this.sealedLength()) {
        const length = this.sealedLength();
        out.push(await this.openRecord(this.pending.subarray(used, used + length)));
        used += length;
      }
      this.pending = this.pending.slice(used);
      if (this.index >= this.records && this.pending.length) {
        throw new DecryptionFailed("bytes follow the last record: the file was changed");
      }
      return out;
    }

    finish() {
      if (!this.header || this.index < this.records || this.pending.length) {
        throw new DecryptionFailed("the encrypted file is cut short: it is incomplete");
      }
      return this.header;
    }

    async openLead(lead) {
      const prefix = lead.slice(0, PREFIX);
      if (!MAGIC.every((b, i) => prefix[i] === b)) {
        throw new DecryptionFailed("not an end-to-end encrypted filefleet file");
      }
      if (prefix[MAGIC.length] !== VERSION) {
        throw new DecryptionFailed(`encryption format ${prefix[MAGIC.length]} is not known here`);
      }
      const salt = prefix.slice(MAGIC.length + 1, MAGIC.length + 1 + SALT);
      this.nonce = prefix.slice(MAGIC.length + 1 + SALT);
      let plain;
      try {
        const headerKey = await derive(this.key, salt, HEADER_INFO, "decrypt");
        plain = new Uint8Array(await subtle().decrypt(
          { name: "AES-GCM", iv: this.nonce, additionalData: prefix }, headerKey,
          lead.slice(PREFIX)));
      } catch (err) {
        if (err instanceof DecryptionFailed) throw err;
        throw new DecryptionFailed("the key does not open this file: wrong key (check the " +
          "part of the link after '#'), or its first bytes were changed");
      }
      const length = new DataView(plain.buffer).getUint16(0);
      let header;
      try {
        header = JSON.parse(new TextDecoder().decode(plain.subarray(2, 2 + length)));
      } catch (err) {
        throw new DecryptionFailed("the encrypted header is not readable");
      }
      this.header = { name: String(header.name), size: Number(header.size),
        content_type: String(header.content_type) };
      this.prefix = prefix;
      this.records = recordCount(this.header.size);
      this.contentKey = await derive(this.key, salt, CONTENT_INFO, "decrypt");
    }

    async openRecord(sealed) {
      const index = this.index;
      const last = index === this.records - 1;
      try {
        const plain = await subtle().decrypt(
          { name: "AES-GCM", iv: nonceOf(this.nonce, index),
            additionalData: recordAad(this.prefix, index, last) },
          this.contentKey, sealed);
        this.index += 1;
        return new Uint8Array(plain);
      } catch (err) {
        throw new DecryptionFailed(`record ${index} of the encrypted file does not verify: ` +
          "its bytes were changed, reordered or cut; nothing of it was written");
      }
    }
  }

  // A ReadableStream of the plaintext of `reader` (a ReadableStream reader of ciphertext)
  // whose header `opener` already opened (`early`: the plaintext that came with it). It
  // errors when a record fails, so a download of it fails rather than saving wrong bytes;
  // `events.progress(n)` follows it and `events.end(error or null)` tells how it ended.
  function plaintextStream(reader, opener, early, events) {
    const progress = (n) => events && events.progress && events.progress(n);
    const end = (err) => events && events.end && events.end(err);
    return new ReadableStream({
      start(controller) {
        for (const piece of early) {
          progress(piece.length);
          controller.enqueue(piece);
        }
      },
      async pull(controller) {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) {
              opener.finish();
              controller.close();
              end(null);
              return;
            }
            const pieces = await opener.feed(value);
            for (const piece of pieces) {
              progress(piece.length);
              controller.enqueue(piece);
            }
            if (pieces.length) return;
          }
        } catch (err) {
          controller.error(err);
          reader.cancel(err).catch(() => {});
          end(err);
        }
      },
      cancel(reason) {
        reader.cancel(reason).catch(() => {});
        end(new Error("the download was cancelled"));
      },
    });
  }

  // Reads from `reader` until the header is open; the plaintext that came with it.
  async function openHeader(reader, opener) {
    const early = [];
    while (!opener.header) {
      const { done, value } = await reader.read();
      if (done) opener.finish(); // throws: cut short
      early.push(...(await opener.feed(value)));
    }
    return early;
  }

  return {
    PLACEHOLDER_NAME, PLACEHOLDER_TYPE, MAGIC, LEAD, DecryptionFailed,
    newSecrets, keyFromText, encryptedSize, Sealer, encryptedSource, Opener,
    plaintextStream, openHeader,
  };
})();
