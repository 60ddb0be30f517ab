// Draws every chart on the page: each .chart element carries its Plotly figure as JSON in
// data-figure (escaped by the template engine, so it is data, never markup).
"use strict";
document.querySelectorAll(".chart[data-figure]").forEach(function (el) {
  var figure = JSON.parse(el.dataset.figure);
  Plotly.newPlot(el, figure.data, figure.layout, { displayModeBar: false, responsive: true });
});
