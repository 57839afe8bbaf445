// The dashboard's charts with a keyboard: one tab stop per chart, the arrow keys move between its points.
// Without this script every point is a tab stop of its own (each shows its value on focus either way).
(function () {
  "use strict";
  function series(point) {
    return point.classList.contains("d1") ? "d1" : "d0";
  }
  document.querySelectorAll("svg.chart").forEach(function (svg) {
    var points = Array.prototype.slice.call(svg.querySelectorAll(".pt"));
    if (!points.length) return;
    points.forEach(function (p, i) { p.setAttribute("tabindex", i === points.length - 1 ? "0" : "-1"); });
    function move(from, to) {
      from.setAttribute("tabindex", "-1");
      to.setAttribute("tabindex", "0");
      to.focus();
    }
    // A point's value is drawn beside it; bring the point forward so later points do not cover it.
    function raise(event) {
      var point = event.target.closest && event.target.closest(".pt");
      if (!point) return;
      var next = point.nextElementSibling;
      if (!next || next.classList.contains("mark")) return;
      var focused = document.activeElement === point;
      var after = point.parentNode.querySelector(".mark");
      point.parentNode.insertBefore(point, after);
      if (focused) point.focus();
    }
    svg.addEventListener("mouseover", raise);
    svg.addEventListener("focusin", raise);
    svg.addEventListener("keydown", function (event) {
      var here = points.indexOf(document.activeElement);
      if (here < 0) return;
      var point = points[here];
      var same = points.filter(function (p) { return series(p) === series(point); });
      var other = points.filter(function (p) { return series(p) !== series(point); });
      var at = same.indexOf(point);
      var to = null;
      if (event.key === "ArrowRight") to = same[Math.min(at + 1, same.length - 1)];
      else if (event.key === "ArrowLeft") to = same[Math.max(at - 1, 0)];
      else if (event.key === "Home") to = same[0];
      else if (event.key === "End") to = same[same.length - 1];
      else if ((event.key === "ArrowUp" || event.key === "ArrowDown") && other.length) {
        var x = point.getAttribute("data-date");
        to = other.filter(function (p) { return p.getAttribute("data-date") <= x; }).pop() || other[0];
      }
      if (!to) return;
      event.preventDefault();
      move(point, to);
    });
  });
})();
