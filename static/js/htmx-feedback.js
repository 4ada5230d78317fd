// What htmx leaves to the page: a button shows that its request is in flight, a failed
// request says so next to what was clicked, and focus lands somewhere sensible after a swap.
(function () {
  "use strict";

  var failures = new WeakMap(); // requesting element -> its error message
  var busy = new WeakMap(); // requesting element -> the controls disabled for its request

  function isPoll(detail) {
    var event = detail.requestConfig && detail.requestConfig.triggeringEvent;
    return !event || !(event.type === "submit" || event.type === "click");
  }

  // The action in people's words: a data-action attribute, else the button's label.
  function actionOf(elt) {
    var named = elt.closest("[data-action]");
    if (named) return named.dataset.action;
    var button = elt.tagName === "FORM" ? elt.querySelector("button") : elt;
    var label = button && button.textContent.trim().toLowerCase();
    return label || "do that";
  }

  // Our error pages sum themselves up in one sentence; a proxy's error page doesn't.
  function summaryOf(xhr) {
    if ((xhr.getResponseHeader("Content-Type") || "").indexOf("text/html") !== 0) return null;
    var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var summary = page.querySelector("[data-error-summary]");
    return summary && summary.textContent.trim();
  }

  function reason(xhr) {
    if (!xhr || !xhr.status) return "the server couldn't be reached. Check your connection and try again.";
    var summary = summaryOf(xhr);
    if (summary) return summary + " (The server answered " + xhr.status + ".)";
    return "the server answered " + xhr.status + ". Try again.";
  }

  function showFailure(elt, detail) {
    var message = failures.get(elt);
    if (!message || !message.isConnected) {
      message = document.createElement("p");
      message.className = "request-error";
      message.setAttribute("role", "alert");
      elt.insertAdjacentElement("afterend", message);
      failures.set(elt, message);
    }
    var xhr = detail.xhr;
    message.textContent = isPoll(detail)
      ? "Lost contact with the server" + (xhr && xhr.status ? " (it answered " + xhr.status + ")" : "") +
        ". Still trying."
      : "Couldn't " + actionOf(elt) + ": " + reason(xhr);
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (isPoll(event.detail)) return;
    var controls = elt.tagName === "FORM" ? Array.from(elt.querySelectorAll("button")) : [elt];
    controls.forEach(function (control) {
      control.disabled = true;
      control.setAttribute("aria-busy", "true");
    });
    busy.set(elt, controls);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    (busy.get(elt) || []).forEach(function (control) {
      control.disabled = false;
      control.removeAttribute("aria-busy");
    });
    busy.delete(elt);
    if (event.detail.successful) {
      var message = failures.get(elt);
      if (message) message.remove();
    } else {
      showFailure(elt, event.detail);
    }
  });

  // Focus after a swap. A click moves it into what was swapped in (its heading first), or to
  // what follows when nothing was. A poll leaves it alone, unless it was inside what the poll
  // replaced: then it goes back to the same control, so it never falls to <body>.
  function focusable(elt) {
    if (!elt.matches("a[href], button, input, select, textarea")) elt.setAttribute("tabindex", "-1");
    elt.focus();
  }

  function sameControl(region, was) {
    if (was.id) return document.getElementById(was.id);
    var label = was.textContent.trim();
    return Array.from(region.querySelectorAll(was.tagName)).find(function (candidate) {
      return candidate.textContent.trim() === label;
    });
  }

  function focusInside(region, was) {
    var spot = (was && sameControl(region, was)) ||
      region.querySelector("h1, h2, h3, [data-focus-after-swap]") ||
      region.querySelector("a[href], button:not([disabled]), input, select, textarea") ||
      region;
    focusable(spot);
  }

  function keepFocus(event) {
    var target = event.detail.target;
    var active = document.activeElement;
    var hadFocus = active && active !== document.body && target.contains(active);
    var poll = isPoll(event.detail);
    if (!event.detail.shouldSwap || (poll && !hadFocus)) return;
    var was = poll ? active : null;
    var before = target.previousElementSibling;
    var after = target.nextElementSibling;
    var parent = target.parentElement;
    // htmx swaps right after this event; look once it has.
    setTimeout(function () {
      var region = target;
      if (!target.isConnected) {
        var first = before ? before.nextElementSibling : parent && parent.firstElementChild;
        region = first && first !== after ? first : after || parent;
      }
      if (region && region.isConnected) focusInside(region, was);
    }, 0);
  }

  document.addEventListener("htmx:beforeSwap", keepFocus);
  // An out-of-band swap (a heading brought up to date) is a poll's too.
  document.addEventListener("htmx:oobBeforeSwap", keepFocus);
})();
