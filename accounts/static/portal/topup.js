// The top-up QR page: ask for the order's status every two seconds until it is settled.
(function () {
  "use strict";
  const status = document.querySelector("[data-status-url]");
  if (!status) return;
  let delay = 2000;

  async function poll() {
    try {
      const response = await fetch(status.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const order = await response.json();
        if (order.status === "credited") {
          window.location.assign(status.dataset.doneUrl);
          return;
        }
        if (order.status === "expired" || order.status === "failed") {
          status.textContent = status.dataset["text" + order.status.charAt(0).toUpperCase() + order.status.slice(1)];
          const code = document.querySelector(".qr-code");
          if (code) code.remove();
          return;
        }
        delay = 2000;
      } else {
        delay = Math.min(delay * 2, 30000);  // the server is unwell: back off
      }
    } catch (e) {
      delay = Math.min(delay * 2, 30000);
    }
    setTimeout(poll, delay);
  }

  setTimeout(poll, delay);
})();
