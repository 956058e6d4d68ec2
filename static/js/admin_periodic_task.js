// The admin's periodic task form (django-celery-beat): under the crontab field, the chosen schedule in words, taken
// from the json_script block "readable-crontabs" (crontab id -> words). Replaces the library's inline script, which
// the Content-Security-Policy refuses.
(function () {
  "use strict";
  const label = document.currentScript.dataset.label;

  function start() {
    const data = document.getElementById("readable-crontabs");
    const select = document.getElementById("id_crontab");
    if (!data || !select) { return; }
    const readable = JSON.parse(data.textContent);
    // The library's hidden field that only carries the words.
    document.querySelectorAll(".field-crontab_translation").forEach(function (row) { row.style.display = "none"; });
    const field = select.closest(".form-row, .fieldBox") || select.parentElement;
    const words = document.createElement("div");
    words.className = "help";
    field.appendChild(words);
    function show() {
      const text = readable[select.value];
      words.textContent = text ? label + " " + text : "";
    }
    select.addEventListener("change", show);
    show();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
