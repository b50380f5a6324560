// The landing page of an end-to-end encrypted file: a link whose #fragment holds the key
// to a file the server knows only as encrypted.bin. "Decrypt and download" decrypts in
// this browser (e2e.js) and saves the plaintext under its real name:
//  - with Service Workers (e2e-sw.js), streamed to disk record by record, whatever the
//    size: the page hands the worker the key and opens a synthetic download URL;
//  - without them, decrypted in memory and saved from a Blob, up to IN_MEMORY_LIMIT; a
//    larger file is refused with the command line to use instead.
// A wrong key, or bytes that do not verify, end with a message, never with wrong bytes.
"use strict";
(function () {
  const E2E = window.filefleetE2E;
  const key = location.hash.slice(1);
  const main = document.querySelector("main.landing");
  const button = document.getElementById("download");
  const nameNode = document.getElementById("file-name");
  if (!E2E || !main || !button || main.dataset.kind !== "file") return;
  if (nameNode.textContent.trim() !== E2E.PLACEHOLDER_NAME) return;
  if (!key) {
    const note = document.createElement("p");
    note.id = "e2e-status";
    note.className = "hint";
    note.textContent = "If this file was encrypted end to end, its link ends with '#' and " +
      "a key: open the whole link to decrypt it here.";
    button.parentNode.after(note);
    return;
  }

  const IN_MEMORY_LIMIT = 512 * 1024 * 1024;
  const fmt = window.filefleetFormat;
  const href = button.getAttribute("href");
  const status = document.createElement("p");
  status.id = "e2e-status";
  status.className = "message";
  status.setAttribute("role", "status");
  button.parentNode.after(status);
  main.dataset.encrypted = "true";
  nameNode.textContent = "An end-to-end encrypted file";
  document.getElementById("summary").textContent = "Encrypted before it was uploaded: the " +
    "server holds ciphertext only. The key in this link decrypts it here, in your browser.";
  button.textContent = "Decrypt and download";
  const digest = document.getElementById("sha256");
  if (digest && digest.parentNode.previousElementSibling) {
    digest.parentNode.previousElementSibling.textContent = "SHA-256 (encrypted)";
  }
  const hint = main.querySelector(".hint");
  if (hint) {
    hint.textContent = `From a terminal: filefleet get '${location.href}'`;
  }

  function say(text, kind) {
    status.textContent = text;
    status.className = `message ${kind || ""}`;
    if (kind) main.dataset.e2eState = kind;
  }

  const size = (n) => (fmt && fmt.bytes ? fmt.bytes(n) : `${n} bytes`);

  function showHeader(header) {
    nameNode.textContent = header.name;
    document.getElementById("file-size").textContent =
      `${size(header.size)} (${header.size} bytes once decrypted)`;
    document.getElementById("file-type").textContent = header.content_type;
    document.title = `${header.name} — filefleet`;
    say(`Decrypting ${header.name} (${size(header.size)}) into your downloads…`);
  }

  async function activeWorker() {
    const registration = await navigator.serviceWorker.register(
      "/static/e2e-sw.js", { scope: "/static/e2e/" });
    const worker = registration.active || registration.waiting || registration.installing;
    if (worker.state !== "activated") {
      await new Promise((resolve, reject) => {
        worker.addEventListener("statechange", () => {
          if (worker.state === "activated") resolve();
          if (worker.state === "redundant") reject(new Error("the download worker failed"));
        });
      });
    }
    return registration.active;
  }

  async function viaServiceWorker() {
    const worker = await activeWorker();
    const token = Array.from(crypto.getRandomValues(new Uint8Array(16)),
      (b) => b.toString(16).padStart(2, "0")).join("");
    const channel = new MessageChannel();
    let registered;
    const ready = new Promise((resolve) => { registered = resolve; });
    const outcome = new Promise((resolve, reject) => {
      channel.port1.onmessage = (event) => {
        const message = event.data;
        if (message.type === "registered") registered();
        else if (message.type === "header") showHeader(message);
        else if (message.type === "progress") {
          say(`Decrypting… ${size(message.bytes)} written and verified`);
        } else if (message.type === "done") resolve(message);
        else if (message.type === "error") reject(new Error(message.message));
      };
    });
    worker.postMessage({ type: "download", token, url: href, key }, [channel.port2]);
    await ready;
    const frame = document.createElement("iframe");
    frame.hidden = true;
    frame.src = `/static/e2e/download/${token}`;
    document.body.appendChild(frame);
    return outcome;
  }

  async function inMemory() {
    const answer = await fetch(href, { headers: { Accept: "application/octet-stream" } });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    const opener = new E2E.Opener(key);
    const reader = answer.body.getReader();
    const early = await E2E.openHeader(reader, opener);
    if (opener.header.size > IN_MEMORY_LIMIT) {
      reader.cancel();
      throw new Error("this browser cannot stream a download to disk (no Service Workers), " +
        `and ${size(opener.header.size)} is too much to decrypt in memory: ` +
        `use filefleet get '${location.href}'`);
    }
    showHeader(opener.header);
    const blob = await new Response(E2E.plaintextStream(reader, opener, early)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = opener.header.name;
    document.body.appendChild(link);
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    return { name: opener.header.name, size: blob.size };
  }

  button.addEventListener("click", async (event) => {
    event.preventDefault();
    if (main.dataset.e2eState === "busy") return;
    main.dataset.e2eState = "busy";
    try {
      E2E.keyFromText(key);
      if (!window.crypto || !window.crypto.subtle) {
        throw new Error("decrypting needs a secure connection (https): " +
          `use filefleet get '${location.href}'`);
      }
      const done = "serviceWorker" in navigator ? await viaServiceWorker() : await inMemory();
      say(`Done: ${done.name} (${size(done.size)}) decrypted and verified.`, "ok");
    } catch (err) {
      say(`Could not decrypt: ${err.message || err}`, "error");
    }
  });
})();
