/* Web Workers for pages opened from disk.
 *
 * A browser refuses to start a Worker from a file:// page, and Material for MkDocs runs its
 * search in one. When the site is read from disk, this stands in: the worker's script runs in
 * a hidden iframe of the page, and messages pass between the two as "message" events.
 * (Material's offline plugin would load a shim like this from the network; mkdocs.yml lists
 * this file under extra.polyfills instead. Over http(s) the browser's own Worker is used.)
 */
(function () {
  "use strict";
  if (location.protocol !== "file:") return;

  function IFrameWorker(url) {
    var events = new EventTarget();
    var frame = document.createElement("iframe");
    frame.hidden = true;
    frame.tabIndex = -1;
    frame.setAttribute("aria-hidden", "true");
    (document.body || document.documentElement).appendChild(frame);
    var inside = frame.contentWindow;
    var loaded = false;
    var waiting = [];

    var worker = {
      onmessage: null,
      onerror: null,
      addEventListener: events.addEventListener.bind(events),
      removeEventListener: events.removeEventListener.bind(events),
      dispatchEvent: events.dispatchEvent.bind(events),
      // page -> worker: a "message" event on the iframe's window, where the worker listens
      postMessage: function (data) {
        if (!loaded) {
          waiting.push(data);
          return;
        }
        setTimeout(function () {
          inside.dispatchEvent(new inside.MessageEvent("message", { data: data }));
        });
      },
      terminate: function () {
        frame.remove();
      },
    };

    // worker -> page: the worker's own postMessage(data)
    inside.postMessage = function (data) {
      setTimeout(function () {
        var event = new MessageEvent("message", { data: data });
        events.dispatchEvent(event);
        if (typeof worker.onmessage === "function") worker.onmessage(event);
      });
    };
    inside.importScripts = function () {
      throw new Error("importScripts is not available to a worker started from disk");
    };

    var script = inside.document.createElement("script");
    script.src = new URL(url, location.href).href;
    script.onload = function () {
      loaded = true;
      waiting.splice(0).forEach(function (data) {
        worker.postMessage(data);
      });
    };
    script.onerror = function () {
      var event = new ErrorEvent("error", { message: "could not load worker " + url });
      events.dispatchEvent(event);
      if (typeof worker.onerror === "function") worker.onerror(event);
    };
    inside.document.head.appendChild(script);
    return worker;
  }

  window.IFrameWorker = IFrameWorker; // Material's search worker looks for this name
  window.Worker = IFrameWorker;
})();
