// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  document.addEventListener("click", async (event) => {
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const source = document.querySelector(copy.dataset.copy);
      const text = source.value !== undefined ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text);
      } catch (e) {
        // Clipboard API needs a secure context: fall back to selecting the text.
        if (source.select) source.select();
        else window.getSelection().selectAllChildren(source);
        document.execCommand("copy");
      }
      const label = copy.firstChild.textContent;
      copy.firstChild.textContent = copy.dataset.copied || "Copied";
      setTimeout(() => { copy.firstChild.textContent = label; }, 1600);
      return;
    }
    const store = event.target.closest("[data-store-key]");
    if (store) {
      const source = document.querySelector(store.dataset.storeKey);
      sessionStorage.setItem("harnmodel.playground.key", source.value);
    }
    const toggle = event.target.closest(".nav-toggle");
    if (toggle) {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      document.getElementById(toggle.getAttribute("aria-controls")).classList.toggle("open", open);
    }
  });

  document.addEventListener("submit", (event) => {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-autosubmit]")) event.target.form.submit();
  });
})();
