// Questionnaire behaviour in the browser: show a question only when its
// enableWhen conditions hold (the server checks the same rules again), add
// instances of repeating groups, give sliders a value only once moved, mark
// the sections that do not apply in the section index, and ask before Cancel
// leaves a form with answers not yet saved (without JavaScript Cancel is a
// plain link).
(function () {
  "use strict";

  function answersFor(form, linkId, scope) {
    var selector = '[data-answer-for="' + CSS.escape(linkId) + '"]';
    var inputs = scope ? scope.querySelectorAll(selector) : [];
    if (!inputs.length) { inputs = form.querySelectorAll(selector); }
    var values = [];
    inputs.forEach(function (input) {
      if (input.disabled || !input.name) { return; }
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
    var want = expected(rule);
    if (!values.length) { return rule.op === "!="; }
    var numeric = rule.type === "answerInteger" || rule.type === "answerDecimal";
    var test = function (v) {
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
    };
    return rule.op === "!=" ? values.every(test) : values.some(test);
  }

  function syncDisabled(form) {
    // An input is live only if nothing around it is hidden; read-only ones never are.
    form.querySelectorAll("input, select, textarea").forEach(function (input) {
      if (input.type === "hidden") { return; }
      input.disabled = input.hasAttribute("data-fixed") || input.closest("[hidden]") !== null;
    });
  }

  function update(form) {
    // Repeat until stable: hiding one question can change another's conditions.
    for (var pass = 0; pass < 6; pass++) {
      var changed = false;
      form.querySelectorAll("[data-enable-when]").forEach(function (el) {
        var rules = JSON.parse(el.getAttribute("data-enable-when"));
        var scope = el.closest(".instance");
        var results = rules.map(function (r) { return holds(form, r, scope); });
        var on = el.getAttribute("data-enable-behavior") === "any"
          ? results.some(Boolean) : results.every(Boolean);
        if (el.hidden === on) { changed = true; el.hidden = !on; }
      });
      syncDisabled(form);
      if (!changed) { break; }
    }
    markSections();
  }

  function markSections() {
    document.querySelectorAll(".section-index a[data-section]").forEach(function (link) {
      var target = document.getElementById(link.getAttribute("data-section"));
      var off = !target || target.closest("[hidden]") !== null;
      link.parentElement.classList.toggle("not-applicable", off);
      if (off) { link.title = "Does not apply with the answers given so far"; } else { link.removeAttribute("title"); }
    });
  }

  function guardCancel(form) {
    // A form shown again after a problem holds answers that were not saved: it starts "changed".
    var changed = form.hasAttribute("data-unsaved");
    var note = function () { changed = true; };
    form.addEventListener("input", note);
    form.addEventListener("change", note);
    form.querySelectorAll("[data-cancel]").forEach(function (link) {
      link.addEventListener("click", function (e) {
        if (changed && !window.confirm("Leave this form without saving? The answers you entered here will be lost.")) {
          e.preventDefault();
        }
      });
    });
  }

  function idOf(name) {
    return "f-" + name.replace(/[:\/\[]/g, "-").replace(/\]/g, "");
  }

  function addInstance(button) {
    var group = button.closest("fieldset.repeating");
    var instances = group.querySelectorAll(":scope > .instance");
    var last = instances[instances.length - 1];
    var n = instances.length;
    var name = button.getAttribute("data-group");
    var oldName = name + "[" + (n - 1) + "]", newName = name + "[" + n + "]";
    var oldId = idOf(oldName), newId = idOf(newName);
    var copy = last.cloneNode(true);
    copy.setAttribute("data-instance", String(n));
    copy.querySelectorAll("[name], [data-name], [id], label[for]").forEach(function (el) {
      ["name", "data-name"].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (v) { el.setAttribute(attr, v.split(oldName).join(newName)); }
      });
      ["id", "for"].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (v) { el.setAttribute(attr, v.split(oldId).join(newId)); }
      });
      if (el.tagName === "INPUT" && (el.type === "radio" || el.type === "checkbox")) { el.checked = false; }
      else if (el.tagName === "INPUT" && el.type === "range") { clearSlider(el); }
      else if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") { el.value = ""; }
      else if (el.tagName === "SELECT") { el.selectedIndex = 0; }
    });
    copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
    last.after(copy);
  }

  function clearSlider(input) {
    if (input.name) { input.setAttribute("data-name", input.name); input.removeAttribute("name"); }
    var out = input.parentElement.querySelector("output");
    if (out) { out.textContent = "not rated"; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.questionnaire").forEach(function (form) {
      form.addEventListener("change", function () { update(form); });
      form.addEventListener("input", function (e) {
        if (e.target.type === "range") {
          if (!e.target.name && e.target.getAttribute("data-name")) {
            e.target.name = e.target.getAttribute("data-name");
          }
          var out = e.target.parentElement.querySelector("output");
          if (out) { out.textContent = e.target.value; }
          update(form);
        }
      });
      form.addEventListener("click", function (e) {
        if (e.target.classList.contains("add-instance")) { addInstance(e.target); update(form); }
        if (e.target.classList.contains("clear-slider")) {
          clearSlider(e.target.parentElement.querySelector("input[type=range]"));
          update(form);
        }
      });
      if (!form.classList.contains("readonly")) { update(form); guardCancel(form); }
    });
  });

  document.addEventListener("click", function (e) {
    if (e.target.classList && e.target.classList.contains("print-page")) { window.print(); }
  });
})();
