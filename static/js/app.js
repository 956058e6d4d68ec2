// Small behaviours shared by every page. No inline scripts anywhere, so a strict CSP can hold.
(function () {
  "use strict";

  // "/" focuses the global search box, as in most web apps.
  document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (event.key === "/" && !["input", "textarea", "select"].includes(tag) && !event.target.isContentEditable) {
      const box = document.getElementById("global-search");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    }
  });

  // A live search box already searched on each keystroke (htmx "input" trigger); its "change" on blur
  // must not reach the filter form, or leaving the box would send the same search again.
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-live-search]")) { event.stopPropagation(); }
  }, true);

  // Selects marked data-autosubmit submit their form on change (language switch, sort order).
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]")) {
      event.target.form.requestSubmit();
    }
    // The "select all" box of a list selects every row on the page.
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.matches("input[name=ids], [data-select-all]")) {
      const count = document.querySelectorAll("input[name=ids]:checked").length;
      document.querySelectorAll("[data-selected-count]").forEach(function (el) { el.textContent = count; });
      document.querySelectorAll("[data-needs-selection]").forEach(function (el) { el.disabled = count === 0; });
    }
    // The bulk action picker shows only the inputs its action needs.
    if (event.target.matches("[data-bulk-action]")) { showBulkInputs(event.target.value); }
  });

  function showBulkInputs(action) {
    document.querySelectorAll("[data-bulk-for]").forEach(function (el) {
      el.hidden = el.dataset.bulkFor !== action;
    });
  }

  // Forms and buttons marked data-confirm ask before doing anything destructive.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const submitter = event.submitter;
    const message = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Print buttons ([data-print], e.g. the printable quote) are hidden until this script can make them work.
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) { window.print(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    const picker = document.querySelector("[data-bulk-action]");
    if (picker) { showBulkInputs(picker.value); }
    document.querySelectorAll("[data-print]").forEach(function (button) { button.hidden = false; });
  });
  document.addEventListener("htmx:afterSettle", function () {
    const picker = document.querySelector("[data-bulk-action]");
    if (picker) { showBulkInputs(picker.value); }
  });
})();
