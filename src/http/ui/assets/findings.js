// The findings inbox asks every 20 seconds whether findings have arrived since it was drawn,
// and says so (a polite live region) without reloading; the count in the header follows.
// Without this script the page still works: reload it to see new findings.
(function () {
  "use strict";
  var banner = document.getElementById("new-findings");
  if (!banner) { return; }
  var shown = Number(banner.getAttribute("data-newest")) || 0;
  function check() {
    fetch("/findings/latest", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (latest) {
        if (!latest) { return; }
        var count = document.getElementById("unacknowledged-count");
        if (count) { count.textContent = String(latest.unacknowledged); }
        if (latest.newest > shown) { banner.hidden = false; }
      })
      .catch(function () { /* offline for a moment: try again at the next turn */ });
  }
  window.setInterval(check, 20000);
}());
