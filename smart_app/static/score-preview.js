// Scores previewed while answering. The server renders each calculated item's rule as a JSON program
// (data-score-program, from fhir_mbt/engine/score_program.py: the Questionnaire's own calculatedExpression,
// translated); this evaluates it on the answers on the page with the engine's FHIRPath semantics:
// collections, empty in -> empty out, iif, exact decimal arithmetic ("/" exact, "div" truncating,
// round() half up). A score whose rule does not translate has no program and is not previewed. The
// server stays authoritative: the preview is labelled as such, and saving computes the scores again.
(function () {
  "use strict";

  function Unsupported(message) { this.message = message; }

  // --- exact rationals --------------------------------------------------------------------------
  function gcd(a, b) { a = Math.abs(a); b = Math.abs(b); while (b) { var t = a % b; a = b; b = t; } return a || 1; }
  function rat(n, d, scale) {
    if (d === undefined) { d = 1; }
    if (d < 0) { n = -n; d = -d; }
    var g = gcd(n, d);
    var out = { rat: true, n: n / g, d: d / g };
    if (scale !== undefined) { out.scale = scale; }
    if (!Number.isSafeInteger(out.n) || !Number.isSafeInteger(out.d)) { throw new Unsupported("number too large"); }
    return out;
  }
  function parseDecimal(text) {
    var m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text);
    if (!m || (m[2] === "" && !m[3])) { return null; }
    var frac = m[3] || "";
    var n = Number((m[2] || "0") + frac) * (m[1] === "-" ? -1 : 1);
    return rat(n, Math.pow(10, frac.length));
  }
  function isNum(v) { return v !== null && typeof v === "object" && v.rat === true; }
  function cmp(a, b) { var x = a.n * b.d, y = b.n * a.d; return x < y ? -1 : x > y ? 1 : 0; }

  function arith(op, a, b) {
    if (op === "+" && typeof a === "string" && typeof b === "string") { return [a + b]; }
    if (!isNum(a) || !isNum(b)) { throw new Unsupported(op + " on non-numbers"); }
    switch (op) {
      case "+": return [rat(a.n * b.d + b.n * a.d, a.d * b.d)];
      case "-": return [rat(a.n * b.d - b.n * a.d, a.d * b.d)];
      case "*": return [rat(a.n * b.n, a.d * b.d)];
      case "/": return b.n === 0 ? [] : [rat(a.n * b.d, a.d * b.n)];
      case "div": return b.n === 0 ? [] : [rat(Math.trunc((a.n * b.d) / (a.d * b.n)))];
      default: throw new Unsupported("operator " + op);
    }
  }

  function roundHalfUp(v, places) {
    var scale = Math.pow(10, places);
    var num = Math.abs(v.n) * scale, den = v.d;
    var q = Math.floor((2 * num + den) / (2 * den));
    return rat((v.n < 0 ? -q : q), scale, places);
  }

  // --- values and truth --------------------------------------------------------------------------
  function kind(v) {
    if (typeof v === "boolean") { return "bool"; }
    if (isNum(v)) { return "num"; }
    if (typeof v === "string") { return "str"; }
    throw new Unsupported("comparison of objects");
  }
  function same(a, b) {
    var ka = kind(a), kb = kind(b);
    if (ka !== kb) { return false; }
    return ka === "num" ? cmp(a, b) === 0 : a === b;
  }
  function single(values) {
    if (values.length !== 1) { throw new Unsupported("a single value was expected"); }
    return values[0];
  }
  function truth(values) {
    if (!values.length) { return null; }
    var v = single(values);
    if (typeof v !== "boolean") { throw new Unsupported("a boolean was expected"); }
    return v;
  }
  function isTrue(values) { return values.length === 1 && values[0] === true; }

  // --- the answers on the page -------------------------------------------------------------------
  function rawAnswers(form, linkId) {
    var values = [];
    form.querySelectorAll('[data-answer-for="' + CSS.escape(linkId) + '"]').forEach(function (input) {
      if (input.disabled || !input.name) { return; }
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) { return; }
      if (input.tagName === "SELECT") {
        Array.prototype.forEach.call(input.selectedOptions, function (o) { if (o.value) { values.push(o.value); } });
        return;
      }
      if (input.value.trim() !== "") { values.push(input.value.trim()); }
    });
    return values;
  }

  function typed(type, raw) {
    if (type === "choice") {
      var m = /^value(String|Integer|Date|Time):([\s\S]*)$/.exec(raw);
      if (m) {
        return { key: "value" + m[1], value: m[1] === "Integer" ? parseDecimal(m[2]) : m[2] };
      }
      var bar = raw.indexOf("|");
      if (bar < 0) { throw new Unsupported("not an answer token"); }
      var coding = { code: raw.slice(bar + 1) };
      if (bar > 0) { coding.system = raw.slice(0, bar); }
      return { key: "valueCoding", value: coding };
    }
    if (type === "integer") {
      if (!/^[+-]?\d{1,9}$/.test(raw)) { throw new Unsupported("not a whole number"); }
      return { key: "valueInteger", value: rat(parseInt(raw, 10)) };
    }
    if (type === "decimal") {
      var d = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(raw) ? parseDecimal(raw) : null;
      if (!d) { throw new Unsupported("not a number"); }
      return { key: "valueDecimal", value: d };
    }
    if (type === "boolean") {
      if (raw === "yes" || raw === "true") { return { key: "valueBoolean", value: true }; }
      if (raw === "no" || raw === "false") { return { key: "valueBoolean", value: false }; }
      throw new Unsupported("not yes or no");
    }
    throw new Unsupported("answers of type " + type);
  }

  function answers(form, node) {
    var out = [];
    node.answers.forEach(function (linkId) {
      rawAnswers(form, linkId).forEach(function (raw) {
        var a = typed(node.types[linkId], raw);
        if (node.key === "value" || node.key === a.key) { out.push(a.value); }
      });
    });
    return out;
  }

  // --- the interpreter -----------------------------------------------------------------------------
  function ev(node, env) {
    if ("num" in node) { return [parseDecimal(node.num)]; }
    if ("str" in node) { return [node.str]; }
    if ("bool" in node) { return [node.bool]; }
    if ("empty" in node) { return []; }
    if ("answers" in node) { return answers(env.form, node); }
    if ("this" in node) { return env.hasThis ? [env.thisValue] : []; }
    if ("total" in node) { return env.total || []; }
    if ("member" in node) {
      var out = [];
      ev(node.of, env).forEach(function (v) {
        if (v !== null && typeof v === "object" && !isNum(v) && typeof v[node.member] === "string") { out.push(v[node.member]); }
      });
      return out;
    }
    if ("iif" in node) {
      if (isTrue(ev(node.iif[0], env))) { return ev(node.iif[1], env); }
      return node.iif.length > 2 ? ev(node.iif[2], env) : [];
    }
    if ("op" in node) { return binary(node.op, node.args[0], node.args[1], env); }
    if ("call" in node) { return call(node, env); }
    throw new Unsupported("unknown node");
  }

  function inner(env, value, total) {
    return { form: env.form, hasThis: true, thisValue: value, total: total === undefined ? env.total : total };
  }

  function call(node, env) {
    var focus = ev(node.of, env);
    switch (node.call) {
      case "count": return [rat(focus.length)];
      case "exists": return [focus.length > 0];
      case "empty": return [focus.length === 0];
      case "first": return focus.slice(0, 1);
      case "not": return focus.length ? [!truth(focus)] : [];
      case "sum":
        return [focus.reduce(function (acc, v) {
          if (!isNum(v)) { throw new Unsupported("sum of non-numbers"); }
          return arith("+", acc, v)[0];
        }, rat(0))];
      case "select": {
        var selected = [];
        focus.forEach(function (v) { selected = selected.concat(ev(node.body, inner(env, v))); });
        return selected;
      }
      case "where": return focus.filter(function (v) { return isTrue(ev(node.body, inner(env, v))); });
      case "aggregate": {
        var total = node.init ? ev(node.init, env) : [];
        focus.forEach(function (v) { total = ev(node.body, inner(env, v, total)); });
        return total;
      }
      case "round": {
        if (!focus.length) { return []; }
        var v = single(focus);
        if (!isNum(v)) { throw new Unsupported("round of a non-number"); }
        return [roundHalfUp(v, node.places)];
      }
      default: throw new Unsupported("function " + node.call);
    }
  }

  function binary(op, left, right, env) {
    if (op === "and" || op === "or" || op === "implies") {
      var a = truth(ev(left, env));
      if (op === "and" && a === false) { return [false]; }
      if (op === "or" && a === true) { return [true]; }
      if (op === "implies" && a === false) { return [true]; }
      var b = truth(ev(right, env));
      if (op === "and") { return a && b ? [true] : b === false ? [false] : []; }
      if (op === "or") { return b ? [true] : (a === false && b === false) ? [false] : []; }
      return b ? [true] : (a === null || b === null) ? [] : [false];
    }
    var x = ev(left, env), y = ev(right, env);
    if (!x.length || !y.length) { return []; }
    if (op === "=" || op === "!=") {
      var equal = x.length === y.length && x.every(function (v, i) { return same(v, y[i]); });
      return [op === "=" ? equal : !equal];
    }
    var p = single(x), q = single(y);
    if (op === "<" || op === ">" || op === "<=" || op === ">=") {
      var kp = kind(p), kq = kind(q);
      if (kp !== kq || (kp !== "num" && kp !== "str")) { throw new Unsupported("comparison of unlike values"); }
      var c = kp === "num" ? cmp(p, q) : (p < q ? -1 : p > q ? 1 : 0);
      return [op === "<" ? c < 0 : op === ">" ? c > 0 : op === "<=" ? c <= 0 : c >= 0];
    }
    return arith(op, p, q);
  }

  // --- showing the result ---------------------------------------------------------------------------
  function decimalText(v) {
    if (v.scale !== undefined) {
      var q = Math.abs(v.n * (Math.pow(10, v.scale) / v.d));
      var digits = String(Math.round(q)).padStart(v.scale + 1, "0");
      var text = v.scale ? digits.slice(0, -v.scale) + "." + digits.slice(-v.scale) : digits;
      return (v.n < 0 ? "-" : "") + text;
    }
    return String(v.n / v.d);
  }

  function result(values, type) {
    if (!values.length) { return { value: "", text: "needs more answers" }; }
    var v = single(values);
    if (!isNum(v)) { throw new Unsupported("not a number"); }
    if (type === "integer") {
      if (v.d !== 1) { throw new Unsupported("not a whole number"); }
      return { value: String(v.n), text: String(v.n) };
    }
    var exact = decimalText(v);
    return { value: exact, text: v.scale !== undefined || v.d === 1 ? exact : String(Math.round((v.n / v.d) * 100) / 100) };
  }

  function preview(form, output) {
    var note = output.parentElement.querySelector(".score-note");
    if (!output.hasAttribute("data-server-text")) { output.setAttribute("data-server-text", output.textContent); }
    var shown;
    try {
      var program = JSON.parse(output.getAttribute("data-score-program"));
      shown = result(ev(program, { form: form, hasThis: false, total: null }), output.getAttribute("data-score-type"));
    } catch (e) {
      if (!(e instanceof Unsupported)) { throw e; }
      shown = null;
    }
    if (shown === null) {
      output.textContent = output.getAttribute("data-server-text");
      output.removeAttribute("data-value");
      output.classList.remove("previewed");
      if (note) { note.hidden = true; }
      return;
    }
    output.textContent = shown.text;
    output.setAttribute("data-value", shown.value);
    output.classList.add("previewed");
    if (note) { note.hidden = false; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.questionnaire").forEach(function (form) {
      if (form.classList.contains("readonly")) { return; }
      var outputs = form.querySelectorAll("output[data-score-program]");
      if (!outputs.length) { return; }
      var all = function () { outputs.forEach(function (o) { preview(form, o); }); };
      form.addEventListener("change", all);
      form.addEventListener("input", all);
      form.addEventListener("click", function (e) {
        if (e.target.classList && e.target.classList.contains("clear-slider")) { all(); }
      });
      all();
    });
  });
})();
