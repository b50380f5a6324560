// One way to show sizes, moments and time left, on every page of the frontend.
// Moments are shown as "YYYY-MM-DD HH:MM UTC", as the server writes them without script.
"use strict";
window.filefleetFormat = (function () {
  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  }

  function moment(value) {
    const d = value instanceof Date ? value : new Date(value);
    if (isNaN(d.getTime())) return String(value);
    return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  }

  // "in 6 d 23 h", "in 4 min 12 s", or "expired".
  function remaining(until, now) {
    const seconds = Math.floor(((until instanceof Date ? until : new Date(until)) - (now || new Date())) / 1000);
    if (!(seconds > 0)) return "expired";
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (d) return `in ${d} d ${h} h`;
    if (h) return `in ${h} h ${m} min`;
    if (m) return `in ${m} min ${s} s`;
    return `in ${s} s`;
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const node of document.querySelectorAll("time[data-moment]")) {
      node.textContent = moment(node.getAttribute("datetime"));
    }
  });
  return { bytes, moment, remaining };
})();
