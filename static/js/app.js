// Behaviour of the session page on top of htmx: the composer (Ctrl/Cmd+Enter sends,
// it grows with its text), the transcript following new content, the working
// indicator with elapsed time and screen-reader announcements.
(function () {
  "use strict";

  // Distance from the bottom (px) within which the reader counts as at the end.
  var FOLLOW_MARGIN_PX = 80;
  var TICK_MS = 1000;

  // Composer

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    if (!target || target.tagName !== "TEXTAREA" || !target.form) return;
    event.preventDefault();
    target.form.requestSubmit();
  });

  // Size the textarea by its rows attribute, not an inline style: the Content
  // Security Policy forbids inline styles, and htmx copies a swapped element's
  // style attribute to its replacement. CSS min-height and max-height bound it.
  function fitToText(textarea) {
    var style = getComputedStyle(textarea);
    var lineHeight = parseFloat(style.lineHeight);
    var padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    textarea.rows = 1;
    if (!lineHeight) return;
    textarea.rows = Math.max(1, Math.ceil((textarea.scrollHeight - padding) / lineHeight));
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches(".composer textarea")) fitToText(event.target);
  });

  // htmx replaces the composer after each send, so put the caret back in the new one.
  var composerHadFocus = false;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt && event.detail.elt.id === "composer") {
      composerHadFocus = event.detail.elt.contains(document.activeElement);
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    var textarea = document.querySelector(".composer textarea");
    if (!textarea) return;
    fitToText(textarea);
    if (composerHadFocus) {
      composerHadFocus = false;
      textarea.focus();
    }
  });

  // Error pages from something other than this app, such as a proxy's 502 page, or
  // no response at all. The app marks its own responses with an OpenCode-UI header
  // and its error responses keep the form as typed. A stranger's page would replace
  // the form, so show a notice above it instead.

  function showPageNotice(text) {
    var notice = document.getElementById("page-notice");
    if (!notice) return;
    var paragraph = document.createElement("p");
    paragraph.className = "notice-error";
    paragraph.textContent = text;
    notice.replaceChildren(paragraph);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status < 400 || xhr.getResponseHeader("OpenCode-UI")) return;
    event.detail.shouldSwap = false;
    showPageNotice(
      "The dashboard did not answer (HTTP " + xhr.status + "). What you typed is " +
      "still in the form: try again in a moment."
    );
  });
  document.addEventListener("htmx:sendError", function () {
    showPageNotice(
      "The dashboard could not be reached. What you typed is still in the form: " +
      "try again in a moment."
    );
  });

  // Announcements for screen readers

  function announce(text, urgent) {
    var region = document.getElementById(urgent ? "announce-assertive" : "announce-polite");
    if (!region) return;
    // Clearing first makes a repeated message count as new.
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function announceNewItems(container, selector, seen, describe, urgent) {
    container.querySelectorAll(selector).forEach(function (element) {
      if (seen.has(element.id)) return;
      seen.add(element.id);
      announce(describe(element), urgent);
    });
  }

  function describeMessage(article) {
    if (article.classList.contains("message-assistant")) return "New reply from the agent";
    var attribution = article.querySelector(".attribution");
    if (article.classList.contains("message-user")) {
      return "New prompt" + (attribution ? " " + attribution.textContent.trim() : "");
    }
    var label = article.querySelector(".permalink");
    return "New message: " + (label ? label.textContent.trim() : "session event");
  }

  // A question card names its first question in a legend, a permission card
  // names the action in its first paragraph.
  function describeQuestion(section) {
    var heading = section.querySelector("h2");
    var detail = section.querySelector("legend") || section.querySelector("h2 ~ p:not(.claimed)");
    var title = heading ? heading.textContent.trim() : "The agent asks";
    var text = detail ? detail.textContent.replace(/\s+/g, " ").trim() : "";
    return title + (text ? ": " + text : "");
  }

  function idsOf(container, selector) {
    var ids = new Set();
    container.querySelectorAll(selector).forEach(function (element) { ids.add(element.id); });
    return ids;
  }

  // Transcript: follow new content unless the reader scrolled up

  function setUpTranscript() {
    var pane = document.getElementById("transcript-pane");
    var transcript = document.getElementById("transcript");
    var questions = document.getElementById("questions");
    var jump = document.getElementById("new-messages");
    var dock = document.querySelector(".session-dock");
    if (!pane || !transcript || !jump) return;
    var following = true;
    // Older messages loaded on request go above the reader's place: they are
    // neither new nor a reason to move.
    var loadingEarlier = false;
    var seenMessages = idsOf(transcript, "article.message");
    var seenQuestions = questions ? idsOf(questions, "section.question:not(.done)") : new Set();

    // The pane scrolls on wide screens. On phones CSS lets it grow and the
    // whole page scrolls instead.
    function scroller() {
      return getComputedStyle(pane).overflowY === "visible" ? document.scrollingElement : pane;
    }

    function atEnd() {
      var box = scroller();
      return box.scrollHeight - box.scrollTop - box.clientHeight < FOLLOW_MARGIN_PX;
    }

    function scrollToEnd() {
      var box = scroller();
      box.scrollTop = box.scrollHeight;
      following = true;
      jump.hidden = true;
    }

    function onScroll() {
      following = atEnd();
      if (following) jump.hidden = true;
    }

    pane.addEventListener("scroll", onScroll, { passive: true });
    window.addEventListener("scroll", onScroll, { passive: true });

    jump.addEventListener("click", function () {
      scrollToEnd();
      // The button hides itself, so keep keyboard focus on the transcript.
      pane.focus({ preventScroll: true });
    });

    document.addEventListener("htmx:beforeSwap", function (event) {
      if (event.detail.target && event.detail.target.id === "earlier-messages") {
        loadingEarlier = true;
      }
    });
    document.addEventListener("htmx:afterSettle", function () { loadingEarlier = false; });

    new MutationObserver(function () {
      if (loadingEarlier) {
        idsOf(transcript, "article.message").forEach(function (id) { seenMessages.add(id); });
        return;
      }
      if (following) scrollToEnd();
      else jump.hidden = false;
      announceNewItems(transcript, "article.message", seenMessages, describeMessage, false);
    }).observe(transcript, { childList: true, subtree: true, characterData: true });

    if (questions) {
      new MutationObserver(function () {
        announceNewItems(questions, "section.question:not(.done)", seenQuestions, describeQuestion, true);
      }).observe(questions, { childList: true, subtree: true });
    }

    // New content grows the pane (on phones) and a question grows the dock, so
    // stay at the end when either changes size.
    var resizes = new ResizeObserver(function () {
      if (following) scrollToEnd();
    });
    resizes.observe(pane);
    if (dock) resizes.observe(dock);

    scrollToEnd();
  }

  // Working indicator with elapsed time

  function runStart() {
    // The run began with the newest prompt. Without its time stamp, count from now.
    var times = document.querySelectorAll("#transcript .message-user time[datetime]");
    var started = times.length ? Date.parse(times[times.length - 1].getAttribute("datetime")) : NaN;
    return isNaN(started) ? Date.now() : Math.min(started, Date.now());
  }

  function formatElapsed(milliseconds) {
    var seconds = Math.max(0, Math.floor(milliseconds / 1000));
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var rest = String(seconds % 60).padStart(2, "0");
    if (hours) return hours + ":" + String(minutes).padStart(2, "0") + ":" + rest;
    return minutes + ":" + rest;
  }

  function setUpWorkingIndicator() {
    var indicator = document.getElementById("working-indicator");
    if (!indicator) return;
    var elapsed = indicator.querySelector(".elapsed");
    var since = null;

    function update() {
      var working = !!document.querySelector("#session-status .status-working");
      if (working && since === null) since = runStart();
      if (!working && since !== null) {
        since = null;
        announce("The agent stopped working", false);
      }
      indicator.hidden = !working;
      if (working) elapsed.textContent = formatElapsed(Date.now() - since);
    }

    update();
    window.setInterval(update, TICK_MS);
    document.addEventListener("htmx:wsAfterMessage", update);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpTranscript();
    setUpWorkingIndicator();
    var textarea = document.querySelector(".composer textarea");
    if (textarea) fitToText(textarea);
  });
})();
