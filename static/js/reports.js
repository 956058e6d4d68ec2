// Report charts: each .report-chart names the json_script block with its ECharts option and the one with the
// links a click on an item opens ({name} in a link is replaced by the item's name). Charts follow the window size.
(function () {
  "use strict";

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function draw(box) {
    if (!window.echarts || box.dataset.drawn) { return; }
    const option = readJson(box.dataset.chart);
    if (!option) { return; }
    box.style.height = (parseInt(box.dataset.height, 10) || 320) + "px";
    const chart = window.echarts.init(box, null, { renderer: "svg" });
    chart.setOption(option);
    const links = readJson(box.dataset.links) || {};
    chart.on("click", function (params) {
      const name = params.name || (params.data && params.data.name) || "";
      const url = links[name] || (links["*"] ? links["*"].replace("{name}", encodeURIComponent(name)) : null);
      if (url) { window.location.href = url; }
    });
    window.addEventListener("resize", function () { chart.resize(); });
    box.dataset.drawn = "true";
  }

  function start() { document.querySelectorAll(".report-chart").forEach(draw); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  document.addEventListener("htmx:afterSettle", start);
})();
