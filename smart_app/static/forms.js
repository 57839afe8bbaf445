// Questionnaire behaviour in the browser: show a question only when its
// enableWhen conditions hold (the server checks the same rules again), add
// instances of repeating groups, and echo slider values.
(function () {
  "use strict";

  function answersFor(form, linkId, scope) {
    var selector = '[data-answer-for="' + CSS.escape(linkId) + '"]';
    var inputs = scope ? scope.querySelectorAll(selector) : [];
    if (!inputs.length) { inputs = form.querySelectorAll(selector); }
    var values = [];
    inputs.forEach(function (input) {
      if (input.disabled) { return; }
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) { return; }
      if (input.tagName === "SELECT") {
        Array.prototype.forEach.call(input.selectedOptions, function (o) { if (o.value) { values.push(o.value); } });
        return;
      }
      if (input.value !== "") { values.push(input.value); }
    });
    return values;
  }

  function expected(rule) {
    if (rule.type === "answerBoolean") { return rule.value ? "yes" : "no"; }
    return String(rule.value);
  }

  function holds(form, rule, scope) {
    var values = answersFor(form, rule.q, scope);
    if (rule.op === "exists") { return (values.length > 0) === Boolean(rule.value); }
    if (!values.length) { return false; }
    var want = expected(rule);
    var numeric = rule.type === "answerInteger" || rule.type === "answerDecimal";
    return values.some(function (v) {
      var a = numeric ? Number(v) : v, b = numeric ? Number(want) : want;
      switch (rule.op) {
        case "=": return a === b;
        case "!=": return a !== b;
        case ">": return a > b;
        case "<": return a < b;
        case ">=": return a >= b;
        case "<=": return a <= b;
        default: return false;
      }
    });
  }

  function update(form) {
    // Repeat until stable: hiding one question can disable another.
    for (var pass = 0; pass < 5; pass++) {
      var changed = false;
      form.querySelectorAll("[data-enable-when]").forEach(function (el) {
        var rules = JSON.parse(el.getAttribute("data-enable-when"));
        var scope = el.closest(".instance");
        var results = rules.map(function (r) { return holds(form, r, scope); });
        var on = el.getAttribute("data-enable-behavior") === "any"
          ? results.some(Boolean) : results.every(Boolean);
        if (el.hidden === on) {
          changed = true;
          el.hidden = !on;
          el.querySelectorAll("input, select, textarea").forEach(function (i) { i.disabled = !on; });
        }
      });
      if (!changed) { break; }
    }
  }

  function addInstance(button) {
    var group = button.closest("fieldset.repeating");
    var instances = group.querySelectorAll(":scope > .instance");
    var last = instances[instances.length - 1];
    var n = instances.length;
    var name = button.getAttribute("data-group");
    var copy = last.cloneNode(true);
    copy.setAttribute("data-instance", String(n));
    var pattern = name + "[" + (n - 1) + "]";
    copy.querySelectorAll("[name], [id], label[for]").forEach(function (el) {
      ["name", "id", "for"].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (v) { el.setAttribute(attr, v.split(pattern).join(name + "[" + n + "]")); }
      });
      if (el.tagName === "INPUT" && (el.type === "radio" || el.type === "checkbox")) { el.checked = false; }
      else if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") { el.value = ""; }
      else if (el.tagName === "SELECT") { el.selectedIndex = 0; }
    });
    copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
    last.after(copy);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.questionnaire").forEach(function (form) {
      form.addEventListener("change", function () { update(form); });
      form.addEventListener("input", function (e) {
        if (e.target.type === "range" && e.target.nextElementSibling) {
          e.target.nextElementSibling.textContent = e.target.value;
        }
      });
      form.addEventListener("click", function (e) {
        if (e.target.classList.contains("add-instance")) { addInstance(e.target); update(form); }
      });
      update(form);
    });
  });
})();

document.addEventListener("click", function (e) {
  if (e.target.classList && e.target.classList.contains("print-page")) { window.print(); }
});
