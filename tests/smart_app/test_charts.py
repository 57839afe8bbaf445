"""The dashboard's charts, read back from their SVG: x is time (a three-month gap is wider than a week),
one y scale per chart, two records of one day apart, a focusable point with a title per value, the line
broken at a gap or a missing value, and the same data in a table under each chart."""

from __future__ import annotations

import copy
import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest

from app_helpers import launch
from smart_app import charts
from smart_app.charts import Point, Series, TimeAxis

SVG = "{http://www.w3.org/2000/svg}"
MENTALIZING = "In-session mentalizing (1–5), session by session"
AROUSAL = "Peak arousal (0–10), session by session"
RFQ = "RFQ-8 scores over time"
CHECKINS = "Weekly blow-ups and pauses"
MODES = "Prementalizing modes seen, session by session"


def svg_of(html: str, title: str) -> ET.Element:
    found = re.search(rf'<svg class="chart[^"]*"[^>]*aria-label="{re.escape(title)}".*?</svg>', html, re.S)
    assert found, f"no chart {title!r}"
    return ET.fromstring(found.group(0))


def points_of(svg: ET.Element) -> list[dict]:
    """Each focusable point: its date, value, title and x, y; in document order."""
    out = []
    for g in svg.iter(f"{SVG}g"):
        if "pt" not in g.get("class", "").split():
            continue
        circle = g.find(f"{SVG}circle")
        out.append({"date": g.get("data-date"), "value": g.get("data-value"), "title": g.find(f"{SVG}title").text,
                    "x": float(circle.get("cx")), "y": float(circle.get("cy")), "tabindex": g.get("tabindex"),
                    "series": g.get("class")})
    return out


def y_ticks(svg: ET.Element) -> list[str]:
    return [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end" and "tick" in t.get("class", "")]


def x_ticks(svg: ET.Element) -> list[tuple[float, str]]:
    bottom = max(float(t.get("y")) for t in svg.iter(f"{SVG}text"))
    return [(float(t.get("x")), t.text) for t in svg.iter(f"{SVG}text") if float(t.get("y")) == bottom]


def table_of(html: str, caption: str) -> list[list[str]]:
    found = re.search(rf'<details class="chart-table">\s*<summary>Show as table</summary>\s*<table>\s*'
                      rf'<caption>{re.escape(caption)}</caption>(.*?)</table>', html, re.S)
    assert found, f"no table for {caption!r}"
    body = found.group(1).split("<tbody>", 1)[1]
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


@pytest.fixture
def dashboard(launched) -> str:
    return launched.get("/dashboard").get_data(as_text=True)


# --- the example patient's dashboard ---------------------------------------------------------------


@pytest.mark.parametrize("title", [MENTALIZING, AROUSAL, RFQ, CHECKINS])
def test_points_are_in_date_order_on_a_time_axis(dashboard, title):
    pts = points_of(svg_of(dashboard, title))
    assert len(pts) >= 3
    for series in {p["series"] for p in pts}:
        mine = [p for p in pts if p["series"] == series]
        assert [p["date"] for p in mine] == sorted(p["date"] for p in mine)
        assert all(b["x"] > a["x"] for a, b in zip(mine, mine[1:])), "x increases with date"
        # x is proportional to time: px per day is the same across the whole chart
        days = [(dt.date.fromisoformat(p["date"]) - dt.date.fromisoformat(mine[0]["date"])).days for p in mine]
        rates = {round((p["x"] - mine[0]["x"]) / d, 1) for p, d in zip(mine, days) if d >= 14}
        assert max(rates) - min(rates) < 0.2, rates


def test_every_chart_shares_one_time_axis_with_month_ticks(dashboard):
    ticks = [x_ticks(svg_of(dashboard, t)) for t in (MENTALIZING, AROUSAL, RFQ, CHECKINS)]
    assert ticks[0] == ticks[1] == ticks[2] == ticks[3]
    labels = [label for _, label in ticks[0]]
    assert labels == ["Mar 2026", "Apr", "May", "Jun", "Jul", "Aug", "Sep"]
    xs = [x for x, _ in ticks[0]]
    assert xs == sorted(xs)
    # the same date sits at the same x in every chart
    session = {p["date"]: p["x"] for p in points_of(svg_of(dashboard, MENTALIZING))}
    checkin = {p["date"]: p["x"] for p in points_of(svg_of(dashboard, CHECKINS))}
    both = set(session) & set(checkin)
    assert both and all(abs(session[d] - checkin[d]) < 3 for d in both)


def test_one_scale_per_chart(dashboard):
    assert y_ticks(svg_of(dashboard, MENTALIZING)) == ["1", "2", "3", "4", "5"]
    assert y_ticks(svg_of(dashboard, AROUSAL)) == ["0", "2", "4", "6", "8", "10"]
    assert y_ticks(svg_of(dashboard, RFQ)) == ["0", "1", "2", "3"]
    counts = y_ticks(svg_of(dashboard, CHECKINS))
    assert counts[0] == "0" and all(float(v).is_integer() for v in counts)
    assert "Mentalizing and peak arousal" not in dashboard, "the two session scales are no longer on one axis"
    for title in (MENTALIZING, AROUSAL):
        assert len({p["series"] for p in points_of(svg_of(dashboard, title))}) == 1


def test_each_point_is_focusable_with_a_title_saying_date_and_value(dashboard):
    pts = points_of(svg_of(dashboard, MENTALIZING))
    assert all(p["tabindex"] == "0" for p in pts)
    first = pts[0]
    assert first["title"] == f"2 Mar 2026: {first['value']}"
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}: \d+(\.\d+)?", p["title"]) for p in pts)
    rfq = points_of(svg_of(dashboard, RFQ))
    assert rfq[0]["title"].startswith("2 Mar 2026: RFQ_c ")


def test_the_tables_hold_the_same_data(dashboard):
    pts = points_of(svg_of(dashboard, AROUSAL))
    table = table_of(dashboard, AROUSAL)
    assert [(row[0], row[2]) for row in table] == [(p["title"].split(": ")[0], p["value"]) for p in pts]
    rfq = table_of(dashboard, RFQ)
    assert rfq[0] == ["2 Mar 2026", "0.5", "1.5"] and len(rfq) == 3
    checkins = table_of(dashboard, CHECKINS)
    assert len(checkins) == 26 and checkins[-1][-1] == "patient"
    modes = table_of(dashboard, MODES)
    assert len(modes) == len(pts) and all(row[1] for row in modes)


def test_missed_sessions_are_no_points(dashboard):
    dates = {p["date"] for p in points_of(svg_of(dashboard, MENTALIZING))}
    assert "2026-04-23" not in dates, "did not attend"
    assert "2026-05-04" not in dates, "cancelled"


# --- two records on one day, gaps, through the app ---------------------------------------------------------------


def test_two_sessions_on_one_date_are_kept_apart(client, ehr, example_data):
    sessions = sorted((r for r in ehr.of_type("QuestionnaireResponse") if "session-record" in r["questionnaire"]),
                      key=lambda r: r["authored"])
    twin = copy.deepcopy(sessions[-1])
    twin["id"] = "same-day-twin"
    twin["identifier"] = {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:00000000-0000-4000-8000-000000000077"}
    twin["authored"] = sessions[-1]["authored"].replace("T", "T").replace(":00:00Z", ":30:00Z")
    ehr.put(twin)
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    pts = points_of(svg_of(html, AROUSAL))
    same = [p for p in pts if p["date"] == "2026-09-03"]
    assert len(same) == 2 and abs(same[0]["x"] - same[1]["x"]) >= charts.SAME_DAY_SEP - 0.05
    assert [row[0] for row in table_of(html, AROUSAL)].count("3 Sep 2026") == 2


# --- the drawing functions -------------------------------------------------------------------------------------------


def _points(days_and_values, start=dt.datetime(2026, 1, 5, 12)):
    return [Point(start + dt.timedelta(days=d), v, f"day {d}") for d, v in days_and_values]


def _chart(series, axis=None):
    axis = axis or TimeAxis.spanning([p.at for s in series for p in s.points])
    return ET.fromstring(str(charts.line_chart(series, axis=axis, y_min=0, y_max=10, ticks=[0, 5, 10], title="t")))


def _polylines(svg):
    return [[tuple(map(float, xy.split(","))) for xy in line.get("points").split()]
            for line in svg.iter(f"{SVG}polyline")]


def test_a_three_month_gap_is_wider_than_a_week():
    svg = _chart([Series("s", _points([(0, 1), (7, 2), (14, 3), (105, 4), (112, 5)]))])
    xs = [p["x"] for p in points_of(svg)]
    week, gap = xs[1] - xs[0], xs[3] - xs[2]
    assert gap > 12 * week, (week, gap)
    assert abs((xs[2] - xs[1]) - week) < 0.2


def test_a_long_gap_and_a_missing_value_break_the_line():
    svg = _chart([Series("s", _points([(0, 1), (7, 2), (14, 3), (105, 4), (112, 5), (119, None), (126, 6),
                                       (133, 7)]))])
    lines = _polylines(svg)
    assert [len(line) for line in lines] == [3, 2, 2], "joined: weeks 0-2, 15-16, 18-19; nothing over the gaps"
    assert len(points_of(svg)) == 7, "the missing value is no point"


def test_one_missing_week_is_bridged_two_are_a_gap():
    bridged = _polylines(_chart([Series("s", _points([(0, 1), (7, 2), (21, 3), (28, 4)]))]))
    assert [len(line) for line in bridged] == [4]
    broken = _polylines(_chart([Series("s", _points([(0, 1), (7, 2), (28, 3), (35, 4)]))]))
    assert [len(line) for line in broken] == [2, 2]


def test_points_of_one_day_get_distinct_x_in_order():
    start = dt.datetime(2026, 3, 2, 12)
    pts = [Point(start, 1, "a"), Point(start, 2, "b"), Point(start, 3, "c"), Point(start + dt.timedelta(days=1), 4, "d")]
    axis = TimeAxis(start - dt.timedelta(days=200), start + dt.timedelta(days=200))
    xs = charts.positions(pts, axis)
    assert all(b - a >= charts.SAME_DAY_SEP - 1e-9 for a, b in zip(xs, xs[1:3]))
    assert xs == sorted(xs)


def test_month_ticks_thin_out_over_years_and_never_collide():
    axis = TimeAxis(dt.datetime(2021, 1, 4), dt.datetime(2026, 1, 4))
    ticks = axis.ticks()
    labels = [label for _, label in ticks]
    assert labels == ["2022", "2023", "2024", "2025", "2026"]
    svg = _chart([Series("s", _points([(0, 1), (1800, 2)], start=dt.datetime(2021, 1, 4)))], axis)
    shown = sorted(x_ticks(svg))
    assert all(b[0] - a[0] > len(a[1]) * charts.CHAR_WIDTH for a, b in zip(shown, shown[1:]))


def test_text_from_records_is_escaped():
    svg = str(charts.line_chart([Series("<b>", _points([(0, 1), (7, 2)]))], axis=TimeAxis.spanning(
        [dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1)]), y_min=0, y_max=3, ticks=[0, 3], title='"><script>'))
    assert "<script>" not in svg and "<b>" not in svg
    ET.fromstring(svg)


def test_presence_grid_places_columns_in_time():
    start = dt.datetime(2026, 3, 2, 12)
    columns = [Point(start + dt.timedelta(days=d), None, f"d{d}") for d in (0, 7, 90)]
    axis = TimeAxis.spanning([c.at for c in columns])
    svg = ET.fromstring(str(charts.presence_grid(columns, [("Pretend mode", {0, 1, 2})], axis=axis, title="m")))
    xs = [float(r.get("x")) + float(r.get("width")) / 2 for r in svg.iter(f"{SVG}rect")]
    assert (xs[2] - xs[1]) > 10 * (xs[1] - xs[0])
    assert [r.find(f"{SVG}title").text for r in svg.iter(f"{SVG}rect")] == ["d0: Pretend mode", "d7: Pretend mode",
                                                                              "d90: Pretend mode"]
