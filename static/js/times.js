// Show <time datetime> elements in the viewer's own time zone, and as "3 min ago"
// where they carry data-relative. The server renders UTC for readers without script.
(function () {
  "use strict";

  var UNITS = [
    ["year", 31536000], ["month", 2592000], ["day", 86400],
    ["hour", 3600], ["minute", 60], ["second", 1],
  ];
  var relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  var absolute = new Intl.DateTimeFormat(undefined, {
    dateStyle: "medium", timeStyle: "medium",
  });

  function describe(date) {
    var seconds = (date.getTime() - Date.now()) / 1000;
    for (var i = 0; i < UNITS.length; i++) {
      if (Math.abs(seconds) >= UNITS[i][1] || UNITS[i][0] === "second") {
        return relative.format(Math.round(seconds / UNITS[i][1]), UNITS[i][0]);
      }
    }
    return "";
  }

  function localize(root) {
    var nodes = (root || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var date = new Date(nodes[i].getAttribute("datetime"));
      if (isNaN(date.getTime())) continue;
      nodes[i].title = absolute.format(date);
      var sameDay = date.toDateString() === new Date().toDateString();
      if (nodes[i].hasAttribute("data-relative")) {
        nodes[i].textContent = describe(date);
      } else {
        nodes[i].textContent = sameDay ? date.toLocaleTimeString() : absolute.format(date);
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  document.addEventListener("htmx:load", function (event) { localize(event.target); });
  setInterval(function () { localize(document); }, 60000);
})();
