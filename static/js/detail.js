/* Issue actions: a tapped "Confirm" button is disabled until the page changes, so a double
 * tap sends one request (the server would refuse the second as stale anyway, with a message). */
(function () {
  "use strict";
  document.querySelectorAll("form.action-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) return; // photos still preparing: photos.js posts it later
      var button = form.querySelector('button[type="submit"]');
      if (!button) return;
      // After this tick, so the submission itself still goes out.
      window.setTimeout(function () { button.disabled = true; }, 0);
    });
  });
  // The browser restores a page from its cache on "back": make its buttons usable again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll('form.action-form button[type="submit"]')
      .forEach(function (button) { button.disabled = false; });
  });
})();
