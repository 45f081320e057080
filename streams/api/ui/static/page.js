// The 360° page's charts: spend and behaviour counts over 1, 7, 30 and 180 days, drawn by the
// bundled frappe-charts (SVG) from the page's JSON island. Everything else is server-rendered.
// The colours are repeated in page.css: the library sets them as style attributes, which the
// page's Content-Security-Policy refuses.
(function () {
  "use strict";
  function draw() {
    var island = document.getElementById("portrait-data");
    if (!island || typeof frappe === "undefined") {
      document.documentElement.setAttribute("data-charts", "unavailable");
      return;
    }
    var data = JSON.parse(island.textContent);
    // animate 0: frappe-charts' animated drawing swaps SVG nodes on a timer and now and then
    // removes one twice ("removeChild ... not a child", once in CI on a loaded host)
    var common = {
      height: 180, animate: 0, axisOptions: { xAxisMode: "tick", yAxisMode: "span" }
    };
    var spend = document.getElementById("chart-spend");
    if (spend && data.spend.some(function (v) { return v > 0; })) {
      new frappe.Chart(spend, Object.assign({}, common, {
        title: "Spend",
        type: "bar",
        colors: ["#2f6f4f"],
        data: { labels: data.labels, datasets: [{ name: "spend", values: data.spend }] }
      }));
    }
    var behaviour = document.getElementById("chart-behaviour");
    if (behaviour && data.behaviours.length) {
      new frappe.Chart(behaviour, Object.assign({}, common, {
        title: "Events",
        type: "bar",
        colors: ["#3b6ea8", "#d08c2f", "#2f6f4f", "#b04a6a", "#6b5bb0", "#6f7c85"],
        data: { labels: data.labels, datasets: data.behaviours }
      }));
    }
    document.documentElement.setAttribute("data-charts", "drawn");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
