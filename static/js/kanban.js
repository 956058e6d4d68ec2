// The pipeline board: drag a card to another stage (SortableJS), or pick the stage in the "move to" dialog
// (keyboards, phones). Either way one htmx POST to the card's move URL, with the board's filters in the query
// string; the server answers with the card and both columns' headers (out of band), or refuses with a status and a
// message, and the card goes back where it was. Loaded by the board page only; no inline script anywhere.
(function () {
  "use strict";

  let dialog = null;      // the Bootstrap modal of #move-dialog
  let pending = null;     // the move the dialog is asking about: {card, origin, stage}
  let submitted = false;  // whether the dialog was closed by its submit button (not by cancel or Escape)

  function byId(id) { return document.getElementById(id); }
  function boardQuery() { const columns = byId("board-columns"); return columns ? columns.dataset.query : ""; }
  function texts() { return byId("board-texts").dataset; }
  function mayMove() { const kanban = byId("kanban"); return kanban && kanban.dataset.mayMove === "true"; }

  function announce(text) { const status = byId("board-status"); if (status) { status.textContent = text; } }

  function showError(text) {
    const box = byId("board-alert");
    const alert = byId("board-error-template").content.firstElementChild.cloneNode(true);
    alert.querySelector("[data-text]").textContent = text;
    box.replaceChildren(alert);
    announce(text);
  }

  function clearError() { const box = byId("board-alert"); if (box) { box.replaceChildren(); } }

  // Where a card was before a move, to put it back if the server refuses.
  function originOf(card) { return {list: card.parentElement, next: card.nextElementSibling}; }

  function putBack(card, origin) {
    card.classList.remove("opacity-50");
    if (origin && origin.list && origin.list.isConnected) {
      origin.list.insertBefore(card, origin.next && origin.next.parentElement === origin.list ? origin.next : null);
    }
  }

  function send(card, origin, stage, reason) {
    const list = byId("column-cards-" + stage);
    if (!list) { putBack(card, origin); return; }
    // The server lists a column newest move first: the moved card goes on top, where a reload would show it.
    list.prepend(card);
    card.classList.add("opacity-50");
    card.kanbanOrigin = origin;
    clearError();
    const query = boardQuery();
    htmx.ajax("POST", card.dataset.moveUrl + (query ? "?" + query : ""), {
      source: card, target: card, swap: "outerHTML", values: {stage: stage, lost_reason: reason || ""},
    }).then(function () {
      if (!card.isConnected) {  // replaced by the server's card: the move is done
        announce(texts().moved.replace("%(stage)s", list.dataset.name || ""));
      }
    });
  }

  // ---------------------------------------------------------------------------------------- the dialog

  function showLostField() {
    const select = byId("move-stage");
    const option = select.options[select.selectedIndex];
    const lost = option && option.dataset.kind === "lost";
    const group = document.querySelector("#move-dialog [data-lost-group]");
    group.hidden = !lost;
    byId("move-lost-reason").required = lost;
  }

  function ask(card, origin, stage) {
    pending = {card: card, origin: origin};
    submitted = false;
    const select = byId("move-stage");
    select.value = stage || card.dataset.stage;
    const reason = byId("move-lost-reason");
    reason.value = "";
    reason.classList.remove("is-invalid");
    document.querySelector("#move-dialog [data-move-name]").textContent = card.dataset.name || "";
    showLostField();
    dialog.show();
  }

  function setUpDialog() {
    const element = byId("move-dialog");
    if (!element || !window.bootstrap) { return; }
    dialog = bootstrap.Modal.getOrCreateInstance(element);
    byId("move-stage").addEventListener("change", showLostField);
    element.addEventListener("shown.bs.modal", function () {
      const reason = byId("move-lost-reason");
      (reason.required ? reason : byId("move-stage")).focus();
    });
    element.addEventListener("hidden.bs.modal", function () {
      // Cancelled (button, Escape, backdrop): a card dropped on a lost column goes back.
      if (pending && !submitted) { putBack(pending.card, pending.origin); }
      if (pending && pending.card.isConnected) { const link = pending.card.querySelector("[data-move-menu]"); if (link) { link.focus(); } }
      pending = null;
    });
    byId("move-form").addEventListener("submit", function (event) {
      event.preventDefault();
      if (!pending) { return; }
      const stage = byId("move-stage").value;
      const reason = byId("move-lost-reason");
      if (reason.required && !reason.value.trim()) {
        reason.classList.add("is-invalid");
        reason.focus();
        return;
      }
      const move = pending;
      submitted = true;
      dialog.hide();
      if (stage === move.card.dataset.stage && move.card.parentElement.dataset.stage === stage) { return; }
      send(move.card, move.origin, stage, reason.required ? reason.value.trim() : "");
    });
  }

  // -------------------------------------------------------------------------------------- drag and drop

  function dropped(event) {
    if (event.from === event.to) { return; }
    const card = event.item;
    const origin = {list: event.from, next: event.from.children[event.oldIndex] || null};
    if (event.to.dataset.kind === "lost") {
      ask(card, origin, event.to.dataset.stage);
    } else {
      send(card, origin, event.to.dataset.stage, "");
    }
  }

  function setUpColumns() {
    if (!window.Sortable || !mayMove()) { return; }
    document.querySelectorAll(".kanban-cards").forEach(function (list) {
      if (list.kanbanSortable) { return; }
      list.kanbanSortable = Sortable.create(list, {
        group: "kanban", sort: false, draggable: ".kanban-card", animation: 150,
        ghostClass: "opacity-25", chosenClass: "shadow",
        // On touch screens a card moves after a short press, so that swiping still scrolls the board.
        delay: 200, delayOnTouchOnly: true, onEnd: dropped,
      });
    });
  }

  // ------------------------------------------------------------------------------------------- wiring

  document.addEventListener("click", function (event) {
    const link = event.target.closest("[data-move-menu]");
    if (!link || !dialog) { return; }
    event.preventDefault();  // without JavaScript the link opens the move page instead
    const card = link.closest(".kanban-card");
    ask(card, originOf(card), null);
  });

  // A refused move (403 no permission, 422 e.g. lost without a reason, 404 gone): the card goes back, the
  // server's message is shown.
  document.addEventListener("htmx:responseError", function (event) {
    const card = event.detail.elt;
    if (!card || !card.classList || !card.classList.contains("kanban-card")) { return; }
    putBack(card, card.kanbanOrigin);
    const xhr = event.detail.xhr;
    // The server explains a refusal in plain text; anything else (an HTML error page) is not shown as it is.
    const plain = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0;
    showError(plain && xhr.responseText ? xhr.responseText : (xhr.status === 404 ? texts().gone : texts().failed));
  });
  document.addEventListener("htmx:sendError", function (event) {
    const card = event.detail.elt;
    if (!card || !card.classList || !card.classList.contains("kanban-card")) { return; }
    putBack(card, card.kanbanOrigin);
    showError(texts().failed);
  });

  // The filters swap the columns in anew: make the new lists sortable.
  document.addEventListener("htmx:afterSettle", setUpColumns);

  function start() { setUpDialog(); setUpColumns(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
