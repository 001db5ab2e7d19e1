"""Colour contrast and visible focus on every console page, measured in a real browser.

The check runs in the page: for every visible element with text of its own (text nodes, the
value or placeholder of a form field, a file input's button), it takes the computed text colour
and the effective background (the element's and its ancestors' background colours composited
from the first opaque one up, alpha included; the page is white below them all) and computes the
WCAG 2.x contrast ratio. Normal text needs 4.5:1, large text (24px, or 18.66px bold) 3:1.
Disabled controls are exempt, as WCAG exempts inactive components. On the *Try* page, every
element Tab reaches must show a focus indicator (an outline or a box-shadow) with 3:1 against
what surrounds the element (WCAG 2.1 non-text contrast).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localvision.config import (
    CloudSettings,
    GoogleProviderSettings,
    ModelConfig,
    RouterSettings,
    ServerSettings,
    Settings,
)
from localvision.server.auth import hash_key

from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server
from .console_support import delta_registry, log_in, new_context, try_image

KEY = "console-contrast-key"
NORMAL, LARGE = 4.5, 3.0
"""WCAG 2.x AA: the least contrast of normal text, and of large text (24px, or 18.66px bold)."""
FOCUS = 3.0
"""WCAG 2.1 AA (non-text contrast): the least contrast of a focus ring with what surrounds it."""
TABS = 80
"""More Tab presses than the *Try* page has stops: going round it once ends well before."""

COLOUR_JS = r"""
(() => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const pen = canvas.getContext('2d', { willReadFrequently: true });
  // Any CSS colour as [r, g, b, alpha] in sRGB 0..255 / 0..1, through a 1x1 canvas.
  const rgba = (css) => {
    const plain = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:[,\s/]+([\d.]+))?/;
    const m = css.match(plain);
    if (m) return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
    pen.clearRect(0, 0, 1, 1);
    pen.fillStyle = 'rgba(0, 0, 0, 0)';
    pen.fillStyle = css;
    pen.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = pen.getImageData(0, 0, 1, 1).data;
    return [r, g, b, a / 255];
  };
  const over = (top, below) => {  // top composited over an opaque colour
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat([1]);
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const hex = (c) => '#' + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, '0'))
    .join('') + (c[3] < 1 ? ` (alpha ${c[3].toFixed(2)})` : '');
  // What is behind `start`: its and its ancestors' backgrounds down to the first opaque one,
  // composited over white. Returns null when a background image makes it unknowable.
  const background = (start) => {
    const layers = [];
    for (let e = start; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.backgroundImage !== 'none') return null;
      const c = rgba(s.backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    return layers.reverse().reduce((below, c) => over(c, below), [255, 255, 255, 1]);
  };
  // How much of the text's colour shows: the opacities on the way up multiply (applied to the
  // text only, which is close enough for the console: nothing in it is translucent).
  const opacity = (start) => {
    let o = 1;
    for (let e = start; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity);
    return o;
  };
  const describe = (e) => {
    const parts = [];
    for (let n = e; n && n !== document.body && parts.length < 3; n = n.parentElement) {
      let part = n.tagName.toLowerCase();
      if (n.id) part += '#' + n.id;
      else if (n.classList.length) part += '.' + [...n.classList].join('.');
      parts.unshift(part);
    }
    return parts.join(' > ');
  };
  return { rgba, over, ratio, hex, background, opacity, describe };
})()
"""

TEXT_CONTRAST_JS = (
    """
() => {  // every visible text on the page, measured: [{element, text, colours, ratio, large}]
  const { rgba, over, ratio, hex, background, opacity, describe } = """
    + COLOUR_JS
    + """;
  const FIELDS = ['text', 'url', 'password', 'search', 'email', 'number', 'tel', 'date'];
  const shown = (e) => e.checkVisibility({ opacityProperty: true, visibilityProperty: true })
    && e.getClientRects().length > 0;
  const checks = [];  // [element, text, style of the text, element whose background is behind]
  for (const e of document.body.querySelectorAll('*')) {
    if (e.closest('svg, option, script, style, template') || !shown(e)) continue;
    if (e.closest(':disabled')) continue;  // inactive components are exempt
    const own = [...e.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent.trim()).join(' ').trim();
    if (own && !(e instanceof HTMLSelectElement)) checks.push([e, own, getComputedStyle(e), e]);
    if (e instanceof HTMLSelectElement && e.selectedOptions.length) {
      checks.push([e, e.selectedOptions[0].text, getComputedStyle(e), e]);
    }
    if (e instanceof HTMLTextAreaElement || (e instanceof HTMLInputElement
        && FIELDS.includes(e.type))) {
      const shows = e.value || (e.type === 'date' ? '(date field)' : '');
      if (shows) checks.push([e, shows, getComputedStyle(e), e]);
      else if (e.placeholder) {
        checks.push([e, e.placeholder, getComputedStyle(e, '::placeholder'), e]);
      }
    }
    if (e instanceof HTMLInputElement && e.type === 'file') {
      const button = getComputedStyle(e, '::file-selector-button');
      checks.push([e, '(file button)', button, e, rgba(button.backgroundColor)]);
    }
  }
  return checks.map(([e, text, style, behind, ownBackground]) => {
    const found = { element: describe(e), text: text.slice(0, 40) };
    let back = background(behind);
    if (back === null) return { ...found, ratio: 0, large: false, why: 'background image' };
    if (ownBackground && ownBackground[3] > 0) back = over(ownBackground, back);
    const ink = rgba(style.color);
    ink[3] *= opacity(e);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
    return { ...found, color: hex(ink), background: hex(back), size,
      ratio: ratio(over(ink, back), back), large };
  });
}
"""
)

FOCUS_JS = (
    r"""
() => {
  const { rgba, ratio, hex, background, describe } = """
    + COLOUR_JS
    + r""";
  const e = document.activeElement;
  if (e === document.body || e.dataset.tabbedTo) return null;  // once round the page
  e.dataset.tabbedTo = 'yes';
  const s = getComputedStyle(e);
  const around = background(e.parentElement) || [255, 255, 255, 1];
  const rings = [];
  if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) rings.push(s.outlineColor);
  if (s.boxShadow !== 'none') {  // its colour comes first: "rgb(...) 0px 0px 0px 2px"
    rings.push(s.boxShadow.match(/^[a-z-]+\([^)]*\)/)?.[0] || s.boxShadow);
  }
  const best = Math.max(0, ...rings.map((c) => ratio(rgba(c), around)));
  return { element: describe(e), id: e.id || null, rings, around: hex(around),
    ratio: +best.toFixed(2) };
}
"""
)


@pytest.fixture(scope="module")
def server(
    colour_model_path: Path, colour_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Everything each page can show: a key to log in with, a registry with versions and an
    alias, labels routed to "google" (the shared colour server standing in for it) under a
    budget, so the *Cloud* page has routes, spend and audit rows."""
    pytest.importorskip("httpx", reason="routing to a cloud provider needs the cloud extra")
    home = tmp_path_factory.mktemp("console-contrast")
    delta_registry(home, colour_model_path)
    settings = Settings(
        home=home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
        server=ServerSettings(api_keys=[hash_key(KEY)]),
        cloud=CloudSettings(
            egress="allow",
            google=GoogleProviderSettings(
                api_key="k", endpoint=colour_server.url, retries=0, timeout_s=CLIENT_TIMEOUT_S
            ),
            router=RouterSettings(routes={"labels": ["google", "local"]}, budgets={"google": 5}),
        ),
    )
    with live_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def logged_in(browser: Any, server: LiveServer) -> Iterator[Any]:
    """One logged-in browser context for the module's pages."""
    context = new_context(browser, server)
    page = context.new_page()
    log_in(page, KEY)
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(logged_in: Any) -> Iterator[Any]:
    page = logged_in.new_page()
    yield page
    page.close()


@pytest.fixture(scope="module")
def drawn(logged_in: Any, photos_dir: Path) -> Iterator[Any]:
    """The *Try* page with a result drawn (tried once for the module): labels (routed to
    "google", which leaves an audit row), colours, crop hints, and faces where OpenCV is."""
    page = logged_in.new_page()
    features = ["labels", "colors", "crop_hints"]
    if importlib.util.find_spec("cv2") is not None:
        features.append("faces")
    assert try_image(page, photos_dir / "face.jpg", features) == "drawn"
    yield page
    page.close()


def measure(page: Any) -> list[dict[str, Any]]:
    """Every visible text on ``page``, measured in the page, each with the ratio it needs."""
    found: list[dict[str, Any]] = page.evaluate(TEXT_CONTRAST_JS)
    for text in found:
        text["needed"] = LARGE if text["large"] else NORMAL
    return found


def too_faint(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The texts below their bar, ratios rounded for the report (compared unrounded)."""
    return [{**m, "ratio": round(m["ratio"], 2)} for m in measured if m["ratio"] < m["needed"]]


def assert_readable(page: Any, at_least: int) -> None:
    """Every text on ``page`` meets its contrast bar, out of at least ``at_least`` measured (so
    a page that failed to render cannot pass)."""
    measured = measure(page)
    faint = too_faint(measured)
    report = "\n".join(str(f) for f in faint)
    assert faint == [], f"text below the WCAG AA contrast on {page.url}:\n{report}"
    assert len(measured) >= at_least, measured


def test_the_check_finds_text_that_is_too_faint(browser: Any) -> None:
    """The in-page measurement itself: grey below 4.5:1 fails as normal text and passes as
    large, translucent ink and a translucent background count, a dark panel is seen."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            """<body style="background: #fff">
            <p id="dark">black on white: 21:1</p>
            <p id="grey" style="color: #949494">#949494 on white: 3.03:1</p>
            <p id="big" style="color: #949494; font-size: 24px">the same, large</p>
            <p id="bold" style="color: #949494; font: bold 19px sans-serif">large, bold</p>
            <p id="thin" style="color: #949494; font-size: 19px">19px, not bold</p>
            <p id="ghost" style="color: rgba(0, 0, 0, .3)">translucent black</p>
            <div style="background: rgba(0, 0, 0, .5)"><p id="veil" style="color: #fff">white
              on half-black over white</p></div>
            <div style="background: #14213d"><p id="night" style="color: #d6dbe8">pale on
              navy</p><p id="lost" style="color: #1b1b1f">ink on navy</p></div>
            <input id="hint" placeholder="a placeholder" style="color: #000">
            <button disabled style="color: #ccc">inactive, exempt</button>
            <style>#hint::placeholder { color: #aaa; opacity: 1 }</style>
            </body>"""
        )
        measured = measure(page)
    finally:
        context.close()
    assert len(measured) == 10, measured  # the disabled button is not measured
    failed = {f["element"].split("#")[-1]: f for f in too_faint(measured)}
    assert set(failed) == {"grey", "thin", "ghost", "veil", "lost", "hint"}, measured
    assert failed["grey"]["ratio"] == pytest.approx(3.03, abs=0.01)
    assert failed["grey"]["needed"] == NORMAL
    assert failed["veil"]["background"] == "#808080"
    assert failed["hint"]["color"] == "#aaaaaa"
    assert max(m["ratio"] for m in measured) == pytest.approx(21.0)


def test_the_login_page_and_its_error_are_readable(browser: Any, server: LiveServer) -> None:
    context = new_context(browser, server)
    try:
        page = context.new_page()
        page.goto("/console/login")
        assert_readable(page, at_least=6)
        page.get_by_label("API key").fill("not-the-key")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("p.notice.error")
        assert_readable(page, at_least=7)
    finally:
        context.close()


def test_the_try_page_with_a_result_drawn_is_readable(drawn: Any) -> None:
    assert drawn.locator("#colors li").count() > 0 and drawn.locator("#crops li").count() > 0
    assert_readable(drawn, at_least=60)


def test_the_models_page_with_every_detail_open_is_readable(page: Any) -> None:
    page.goto("/console/models")
    row = page.locator('tr[data-ref="delta@2"]')
    row.get_by_role("button", name="Promote delta@2").click()
    page.wait_for_selector("p.notice.ok")  # a notice of success is shown too
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    assert_readable(page, at_least=100)


def test_the_cloud_page_with_an_audit_row_is_readable(page: Any, drawn: Any) -> None:
    page.goto("/console/cloud")  # the tried image's labels went to "google": a row, a spend
    assert page.locator("tr.audit-row").count() >= 1
    assert_readable(page, at_least=60)


def test_the_server_page_is_readable(page: Any) -> None:
    page.goto("/console/server")
    assert page.locator("#ready").inner_text() == "yes"
    assert_readable(page, at_least=60)


def test_focus_is_visible_on_everything_tab_reaches_on_the_try_page(drawn: Any) -> None:
    page = drawn  # with a result, so the JSON and the copy buttons take focus too
    for _ in range(TABS):  # Tab past the last element: the next Tab starts at the top
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body"):
            break
    seen: list[dict[str, Any]] = []
    for _ in range(TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS_JS)
        if focused is None:
            break
        seen.append(focused)
    reached = {f["id"] for f in seen}
    assert {"image", "url", "model", "run", "raw", "curl", "python"} <= reached, seen
    faint = [f for f in seen if f["ratio"] < FOCUS]
    assert faint == [], "focus indicators missing or below 3:1:\n" + "\n".join(map(str, faint))
