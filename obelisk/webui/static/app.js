// Obelisk web UI: progressive enhancement only. Every page works without this file; it adds local times,
// copy buttons and live updates of a running execution (server-sent events).
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");

  function pad(n, width) {
    var s = String(n);
    while (s.length < (width || 2)) s = "0" + s;
    return s;
  }

  function localizeTimes(scope) {
    var nodes = (scope || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      if (node.dataset.local) continue;
      // Trim microseconds to milliseconds: Date parses at most three fraction digits everywhere.
      var iso = node.getAttribute("datetime").replace(/(\.\d{3})\d+/, "$1");
      var d = new Date(iso);
      if (isNaN(d.getTime())) continue;
      node.title = node.textContent;
      node.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
      node.dataset.local = "1";
    }
  }

  function describeZone() {
    var foot = document.querySelector(".foot .tz");
    if (!foot) return;
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    foot.textContent = "Times are in your time zone" + (zone ? " (" + zone + ")" : "") + "; hover one for UTC.";
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy") ? resolve() : reject(new Error("copy refused")); }
      catch (e) { reject(e); }
      finally { document.body.removeChild(area); }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (!button) return;
    copyText(button.getAttribute("data-copy")).then(function () {
      button.classList.add("copied");
      setTimeout(function () { button.classList.remove("copied"); }, 1200);
    }, function () { /* nothing to do: the id is on the page to select by hand */ });
  });

  // A form that changes something (the Cancel button) asks first; confirmed, it says so to the server, which
  // otherwise answers with a confirmation page of its own (the no-script path).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute ? form.getAttribute("data-confirm") : null;
    if (!question) return;
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "confirmed";
    field.value = "1";
    form.appendChild(field);
  });

  function follow(live) {
    var url = live.getAttribute("data-stream");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    live.classList.add("streaming");
    source.addEventListener("update", function (event) {
      live.innerHTML = event.data; // rendered and escaped by the server
      localizeTimes(live);
    });
    source.addEventListener("done", function () {
      source.close();
      live.classList.remove("streaming");
      live.removeAttribute("data-stream");
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function start() {
    localizeTimes(document);
    describeZone();
    var live = document.getElementById("live");
    if (live) follow(live);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
