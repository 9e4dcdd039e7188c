// Trade CRM page behaviour. No inline scripts anywhere: everything hooks in from here.
(function () {
  "use strict";

  // Contact list: select this page / all matching, and show how many are selected.
  function updateSelection(root) {
    var boxes = root.querySelectorAll(".row-select");
    var all = root.querySelector("#select-all-matching");
    var counter = root.querySelector("#selected-count");
    var selected = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
    if (!counter) return;
    var text = all && all.checked ? all.parentNode.textContent.trim() : (selected ? counter.dataset.template.replace("%s", selected) : "");
    counter.textContent = text;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.closest("#bulk-form");
    if (!form) return;
    if (target.id === "select-page") {
      form.querySelectorAll(".row-select").forEach(function (box) { box.checked = target.checked; });
    }
    if (target.id === "select-all-matching" && target.checked) {
      form.querySelectorAll(".row-select, #select-page").forEach(function (box) { box.checked = true; });
    }
    updateSelection(form);
  });
})();
