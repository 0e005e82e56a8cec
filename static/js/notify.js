// Tell the teammate when something waits for them: a count in the page title, and
// a system notification (where they allowed it) while the tab is in the background.
(function () {
  "use strict";

  var baseTitle = document.title;
  var lastInboxCount = null;
  var lastCardCount = null;

  function notify(text) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (!document.hidden) return;
    new Notification("OpenCode UI", { body: text, tag: "opencode-ui-pending" });
  }

  function showCount(count) {
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  function readInbox() {
    var badge = document.getElementById("inbox-badge");
    if (!badge || badge.dataset.count === undefined || badge.dataset.count === "") return;
    var count = parseInt(badge.dataset.count, 10);
    if (isNaN(count)) return;
    if (lastInboxCount !== null && count > lastInboxCount) {
      notify("A question or permission request is waiting in the inbox.");
    }
    lastInboxCount = count;
    showCount(count);
  }

  function readSessionCards() {
    var region = document.getElementById("questions");
    if (!region) return;
    var count = region.querySelectorAll("section.question:not(.done)").length;
    if (lastCardCount !== null && count > lastCardCount) {
      notify("The agent is waiting for an answer in this session.");
    }
    lastCardCount = count;
  }

  function setUpPermissionButtons() {
    var buttons = document.querySelectorAll("[data-enable-notifications]");
    if (!("Notification" in window) || Notification.permission !== "default") return;
    buttons.forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        Notification.requestPermission().then(function () {
          buttons.forEach(function (other) { other.hidden = true; });
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpPermissionButtons();
    readSessionCards();
  });
  document.addEventListener("htmx:afterSettle", readInbox);
  document.addEventListener("htmx:load", readInbox);
  document.addEventListener("htmx:wsAfterMessage", readSessionCards);
})();

// When OpenCode comes back, refresh pages that rendered without it, unless the
// teammate has typed something the refresh would throw away.
(function () {
  "use strict";

  function hasUnsavedInput() {
    var fields = document.querySelectorAll("textarea, input");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked !== field.defaultChecked) return true;
      } else if (field.type !== "hidden" && field.value !== field.defaultValue) {
        return true;
      }
    }
    return false;
  }

  document.addEventListener("upstream-recovered", function () {
    if (!hasUnsavedInput()) {
      window.location.reload();
      return;
    }
    var notice = document.getElementById("page-notice");
    if (notice) {
      notice.textContent = "OpenCode is back. Reload the page to see the latest.";
    }
  });
})();
