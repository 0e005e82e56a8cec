// Behaviour of the page shell: the sidebar (collapsible on wide screens, a drawer on
// narrow ones), the theme picker, the user menu and the keyboard shortcuts.
// Everything it needs from the server comes from data attributes, so no page has
// inline script.
(function () {
  "use strict";

  var NARROW = window.matchMedia("(max-width: 60rem)");
  // Time allowed between the two keys of a sequence such as "g i".
  var SEQUENCE_MS = 1500;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    } catch (error) {
      return "";
    }
  }

  // Store preference fields (theme, sidebar) for the user. A failure is only
  // logged, because the page already shows the change.
  function savePreference(url, fields) {
    var body = new FormData();
    Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
    }).then(function (response) {
      if (!response.ok) console.warn("Saving the preference failed:", response.status);
    }, function (error) {
      console.warn("Saving the preference failed:", error);
    });
  }

  // Sidebar and drawer

  function sidebarParts() {
    return {
      toggle: document.getElementById("sidebar-toggle"),
      sidebar: document.getElementById("sidebar"),
      backdrop: document.querySelector(".drawer-backdrop"),
      outside: [document.querySelector(".site-header"), document.getElementById("main")],
    };
  }

  function drawerIsOpen() {
    return document.body.classList.contains("drawer-open");
  }

  function setDrawer(open, restoreFocus) {
    var parts = sidebarParts();
    if (!parts.sidebar) return;
    document.body.classList.toggle("drawer-open", open);
    parts.backdrop.hidden = !open;
    // While the drawer is open the rest of the page is inert, like under a dialog.
    parts.outside.forEach(function (element) { if (element) element.inert = open; });
    syncToggle();
    if (open) {
      var first = parts.sidebar.querySelector("a, button");
      if (first) first.focus();
    } else if (restoreFocus) {
      parts.toggle.focus();
    }
  }

  function syncToggle() {
    var toggle = document.getElementById("sidebar-toggle");
    if (!toggle) return;
    var shown = NARROW.matches
      ? drawerIsOpen()
      : document.body.dataset.sidebar !== "collapsed";
    toggle.setAttribute("aria-expanded", String(shown));
  }

  function toggleSidebar(toggle) {
    if (NARROW.matches) {
      setDrawer(!drawerIsOpen(), false);
      return;
    }
    var collapsed = document.body.dataset.sidebar !== "collapsed";
    document.body.dataset.sidebar = collapsed ? "collapsed" : "expanded";
    syncToggle();
    savePreference(toggle.dataset.preferencesUrl, { sidebar: document.body.dataset.sidebar });
  }

  NARROW.addEventListener("change", function () {
    if (drawerIsOpen()) setDrawer(false, false);
    syncToggle();
  });

  // Theme

  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    var meta = document.querySelector('meta[name="color-scheme"]');
    if (meta) meta.content = theme === "system" ? "light dark" : theme;
    document.querySelectorAll("[data-theme-choice]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.themeChoice === theme));
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList.contains("theme-picker")) return;
    var choice = event.submitter && event.submitter.dataset.themeChoice;
    if (!choice) return;
    event.preventDefault();
    applyTheme(choice);
    savePreference(form.action, { theme: choice });
  });

  // Dialogs and menus

  function openDialog(id, opener) {
    var dialog = document.getElementById(id);
    if (!dialog || dialog.open) return;
    closeMenus();
    var returnTo = opener || document.activeElement;
    dialog.addEventListener("close", function () {
      if (returnTo && document.contains(returnTo)) returnTo.focus();
    }, { once: true });
    dialog.showModal();
  }

  function closeMenus(except) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var opener = target.closest("[data-opens-dialog]");
    if (opener) {
      openDialog(opener.dataset.opensDialog, document.querySelector(".user-menu summary"));
      return;
    }
    var toggle = target.closest("#sidebar-toggle");
    if (toggle) {
      toggleSidebar(toggle);
      return;
    }
    if (target.closest("[data-closes-drawer]")) {
      setDrawer(false, true);
      return;
    }
    closeMenus(target.closest("details.user-menu"));
  });

  // Keyboard shortcuts

  function isTyping(element) {
    if (!element) return false;
    if (element.isContentEditable || element.tagName === "TEXTAREA" || element.tagName === "SELECT") {
      return true;
    }
    if (element.tagName !== "INPUT") return false;
    return !/^(button|checkbox|radio|submit|reset)$/.test(element.type);
  }

  function focusSearch() {
    var field = document.querySelector("[data-search-field]");
    if (field) {
      field.focus();
      field.select();
      return;
    }
    var dialog = document.getElementById("shortcuts-dialog");
    if (dialog) window.location.assign(dialog.dataset.searchUrl);
  }

  function closeTopmost() {
    if (drawerIsOpen()) {
      setDrawer(false, true);
      return true;
    }
    var menu = document.querySelector("details.user-menu[open]");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
      return true;
    }
    return false;
  }

  var sequenceStart = 0;

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      if (closeTopmost()) event.preventDefault();
      return;
    }
    if (isTyping(event.target) || document.querySelector("dialog[open]")) return;
    var pendingG = Date.now() - sequenceStart < SEQUENCE_MS;
    sequenceStart = 0;
    if (event.key === "/") {
      event.preventDefault();
      focusSearch();
    } else if (event.key === "?") {
      event.preventDefault();
      openDialog("shortcuts-dialog");
    } else if (event.key === "g") {
      sequenceStart = Date.now();
    } else if (event.key === "i" && pendingG) {
      var inbox = document.getElementById("inbox-badge");
      if (inbox) window.location.assign(inbox.href);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    syncToggle();
    if (window.location.hash === "#search") {
      var field = document.querySelector("[data-search-field]");
      if (field) field.focus();
    }
  });
})();
