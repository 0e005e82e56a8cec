// Keep what a teammate picked or typed in a question or permission card when the
// server pushes a new copy of that card (a claim, a reconnect's full state).
(function () {
  "use strict";

  var saved = null;

  function isCardArea(element) {
    return element && (element.id === "questions" ||
      (element.matches && element.matches("section.question")));
  }

  function changedFields(card) {
    var fields = {};
    var dirty = false;
    card.querySelectorAll("input, textarea").forEach(function (field) {
      if (!field.name || field.type === "hidden") return;
      var entry = fields[field.name] || (fields[field.name] = { checked: [], text: null });
      if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked) entry.checked.push(field.value);
        if (field.checked !== field.defaultChecked) dirty = true;
      } else {
        entry.text = field.value;
        if (field.value !== field.defaultValue) dirty = true;
      }
    });
    return dirty ? fields : null;
  }

  function restore(card, fields) {
    card.querySelectorAll("input, textarea").forEach(function (field) {
      var entry = fields[field.name];
      if (!entry) return;
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = entry.checked.indexOf(field.value) !== -1;
      } else if (entry.text !== null) {
        field.value = entry.text;
      }
    });
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    if (!isCardArea(event.target)) return;
    var region = document.getElementById("questions") || event.target;
    saved = saved || {};
    region.querySelectorAll("section.question").forEach(function (card) {
      var fields = changedFields(card);
      if (fields) saved[card.id] = fields;
    });
  });

  document.addEventListener("htmx:oobAfterSwap", function () {
    if (!saved) return;
    Object.keys(saved).forEach(function (id) {
      var card = document.getElementById(id);
      if (card) restore(card, saved[id]);
    });
    saved = null;
  });
})();
