/* Searchable pickers: fill an input's <datalist> from its scoped JSON endpoint as the user types.
   The page carries no options; without this script the input still takes the typed text (a name,
   or "name [code]"), which the server resolves within the user's scope. No inline script (CSP). */
(function () {
  "use strict";
  var DELAY_MS = 200;

  function attach(input) {
    if (input.dataset.pickerReady) return;
    input.dataset.pickerReady = "1";
    var list = document.getElementById(input.getAttribute("list"));
    var url = input.getAttribute("data-picker-url");
    if (!list || !url) return;
    var timer = null;
    var asked = null;

    function fill(results) {
      list.textContent = "";
      results.forEach(function (row) {
        var option = document.createElement("option");
        option.value = row.label;
        list.appendChild(option);
      });
    }

    function ask() {
      var text = input.value.trim();
      if (text === asked) return;
      asked = text;
      var separator = url.indexOf("?") === -1 ? "?" : "&";
      fetch(url + separator + "q=" + encodeURIComponent(text), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (answer) { if (asked === text) fill(answer.results || []); })
        .catch(function () { /* offline: the typed text still works */ });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, DELAY_MS);
    });
    input.addEventListener("focus", ask, { once: true });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("input[data-picker-url]"), attach);
    // Inputs swapped in later (a matrix cell's form after htmx) attach on first focus.
    document.addEventListener("focusin", function (event) {
      var input = event.target;
      if (input.matches && input.matches("input[data-picker-url]") && !input.dataset.pickerReady) {
        attach(input);
        input.dispatchEvent(new Event("focus"));
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
