/* Triage: a "select all" box; without JavaScript each row is ticked by hand. */
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (!all) return;
  var boxes = Array.prototype.slice.call(document.querySelectorAll(".triage-check"));
  all.closest(".select-all").hidden = false;
  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
  });
  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      var ticked = boxes.filter(function (b) { return b.checked; }).length;
      all.checked = ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    });
  });
  // Choosing an organisation for a row ticks that row: that is what the supervisor means.
  document.querySelectorAll(".triage-organisation input").forEach(function (input) {
    input.addEventListener("change", function () {
      var row = input.closest(".triage-row");
      var box = row && row.querySelector(".triage-check");
      if (box && input.value.trim()) box.checked = true;
    });
  });
})();
