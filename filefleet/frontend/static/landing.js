// The landing page: the time left until the link expires, counting down.
"use strict";
(function () {
  const time = document.getElementById("expires");
  const countdown = document.getElementById("countdown");
  const button = document.getElementById("download");
  if (!time || !countdown || !window.filefleetFormat) return;
  const until = new Date(time.getAttribute("datetime"));
  function tick() {
    const left = window.filefleetFormat.remaining(until);
    countdown.textContent = `(${left})`;
    if (left === "expired" && button) {
      button.classList.add("disabled");
      button.setAttribute("aria-disabled", "true");
      button.removeAttribute("href");
      button.textContent = "This link has expired";
      return;
    }
    setTimeout(tick, 1000);
  }
  tick();
})();
