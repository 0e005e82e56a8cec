// Small behaviours on top of htmx: sending with Ctrl/Cmd+Enter and keeping the
// newest message in view while the reader is at the bottom of the transcript.
(function () {
  "use strict";

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    if (!target || target.tagName !== "TEXTAREA" || !target.form) return;
    event.preventDefault();
    target.form.requestSubmit();
  });

  var FOLLOW_MARGIN_PX = 80;
  var followBottom = true;

  function nearBottom() {
    var scrolled = window.innerHeight + window.scrollY;
    return document.documentElement.scrollHeight - scrolled < FOLLOW_MARGIN_PX;
  }

  window.addEventListener("scroll", function () {
    followBottom = nearBottom();
  }, { passive: true });

  document.addEventListener("htmx:wsAfterMessage", function () {
    if (followBottom) window.scrollTo(0, document.documentElement.scrollHeight);
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (document.getElementById("transcript")) {
      window.scrollTo(0, document.documentElement.scrollHeight);
    }
  });
})();
